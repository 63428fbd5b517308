"""What a liquidation engine needs on a record (SPEC §7.1): depth-aware bankruptcy prices and
the partial-liquidation plan of the records that reach `liquidation` or `bankrupt`.

The numbers come from one compiled pass over those accounts (`risk.kernels.liquidation`, whose
docstring has the formulas and the rule that orders the plan); Python gathers the books and
builds the record fields.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from risk.book import SIDES
from risk.engine.state import EngineState
from risk.events import DepthEvent
from risk.kernels.depth_fills import Books, books_of
from risk.kernels.liquidation import Positions, liquidation_plans
from risk.records import PlanStep, finite

DepthFields = tuple[tuple[float | None, ...], tuple[PlanStep, ...] | None]


class LiquidationRecords(EngineState):
    """The SPEC §7.1 fields of records, from the last depth snapshot of each symbol."""

    _books: tuple[list[DepthEvent], int, Books] | None = None

    def depth_books(self) -> Books:
        """Every symbol's last snapshot as compiled code reads it, made again only when a
        snapshot or the symbol set changed since the last call."""
        events, symbols = list(self.depth.values()), len(self.instruments)
        cached = self._books
        if (
            cached is not None
            and cached[1] == symbols
            and len(cached[0]) == len(events)
            and all(old is new for old, new in zip(cached[0], events, strict=True))
        ):
            return cached[2]
        books = books_of(
            symbols, {self.symbols[event.symbol]: (event.bids, event.asks) for event in events}
        )
        self._books = (events, symbols, books)
        return books

    def _depth_fields(
        self,
        members: dict[str, NDArray[Any]],
        spans: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]],
        equity: NDArray[np.float64],
    ) -> list[DepthFields]:
        """Per account (positions order[starts[j]:ends[j]] of the member columns, `spans` =
        (starts, ends, order)): its positions' effective bankruptcy prices, in that order, and
        its plan (None: close everything)."""
        positions = cast(
            Positions,
            tuple(members[name] for name in ("symbol", "side", "size", "mark", "maintenance")),
        )
        effective, closing, fill, slippage, rank, planned = liquidation_plans(
            spans,
            positions,
            equity,
            self.instrument_table(),
            self.depth_books(),
            self.thresholds.margin_call,
        )
        starts, ends, order = spans
        symbol, side = members["symbol"], members["side"]
        fields: list[DepthFields] = []
        for account in range(len(equity)):
            rows = order[starts[account] : ends[account]]
            prices = tuple(finite(price) for price in effective[rows].tolist())
            plan = None
            if planned[account]:
                steps = rows[rank[rows] >= 0]
                steps = steps[np.argsort(rank[steps])]
                plan = tuple(
                    PlanStep(
                        self.instruments[int(symbol[row])].symbol,
                        SIDES[int(side[row])],
                        float(closing[row]),
                        float(fill[row]),
                        float(slippage[row]),
                    )
                    for row in steps.tolist()
                )
            fields.append((prices, plan))
        return fields
