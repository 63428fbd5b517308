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
from risk.engine.spans import numbers, span_slots
from risk.engine.state import EngineState
from risk.events import DepthEvent
from risk.kernels.depth_fills import Books, books_of
from risk.kernels.liquidation import Positions, liquidation_plans
from risk.records import PlanStep

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
        books = self.depth_books()
        if not books[0].any():  # no snapshot at all: nothing can be priced, no plan
            lengths = (spans[1] - spans[0]).tolist()
            return [((None,) * length, None) for length in lengths]
        positions = cast(
            Positions,
            tuple(members[name] for name in ("symbol", "side", "size", "mark", "maintenance")),
        )
        effective, closing, fill, slippage, rank, planned = liquidation_plans(
            spans,
            positions,
            equity,
            self.instrument_table(),
            books,
            self.thresholds.margin_call,
        )
        starts, ends, order = spans
        edges, slots = span_slots(starts, ends)
        rows, bounds = order[slots], edges.tolist()
        listed = numbers(effective[rows])
        fields: list[DepthFields] = [
            (tuple(listed[bounds[index] : bounds[index + 1]]), None) for index in range(len(equity))
        ]
        plans = self._plans(rows, edges, members, (rank, closing, fill, slippage))
        for account in np.flatnonzero(planned).tolist():
            fields[account] = (fields[account][0], plans.get(account, ()))
        return fields

    def _plans(
        self,
        rows: NDArray[np.int64],
        edges: NDArray[np.int64],
        members: dict[str, NDArray[Any]],
        steps: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[Any]],
    ) -> dict[int, tuple[PlanStep, ...]]:
        """The steps of every plan by account (index into the spans), in the order taken:
        the members of account j are rows[edges[j]:edges[j+1]], `steps` = (rank, closing,
        fill, slippage) per member."""
        rank, closing, fill, slippage = steps
        owner = np.repeat(np.arange(len(edges) - 1), np.diff(edges))
        taken = np.flatnonzero(rank[rows] >= 0)
        if not len(taken):
            return {}
        chosen, owners = rows[taken], owner[taken]
        ordered = np.lexsort((rank[chosen], owners))
        chosen, owners = chosen[ordered], owners[ordered]
        symbols = [item.symbol for item in self.instruments]
        made = list(
            map(
                PlanStep,
                [symbols[code] for code in members["symbol"][chosen].tolist()],
                [SIDES[code] for code in members["side"][chosen].tolist()],
                closing[chosen].tolist(),
                fill[chosen].tolist(),
                slippage[chosen].tolist(),
            )
        )
        plans: dict[int, tuple[PlanStep, ...]] = {}
        bounds = np.flatnonzero(np.diff(owners)) + 1
        starts = [0, *bounds.tolist()]
        for begin, finish in zip(starts, [*bounds.tolist(), len(made)], strict=True):
            plans[int(owners[begin])] = tuple(made[begin:finish])
        return plans
