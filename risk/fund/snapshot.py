"""A fund projection's input, taken from an engine at an epoch.

An epoch `at` (ms) is a moment of event time: the engine has applied every event with
ts < at and none after (risk/engine/marks.py calls its epoch listener just before the first event
with ts >= at). A snapshot splits what it takes in two:

- `Market`: what every engine of a deployment holds alike, because it comes from broadcast
  inputs (marks, instruments, fund balances, depth) and the projection parameters: symbol
  arrays, the EWMA covariance, fund balances and drawdowns, depth books;
- `BookShare`: the engine's own accounts: its exposure, its ADL queue heads and its
  liquidation map cells.

Shares of the engines that together hold every account combine into the projection of the
whole book (risk/fund/share.py, projection.py), the same numbers as one engine holding all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from risk.fund.adl import AdlQueue, adl_queues
from risk.fund.exposure import Exposure, FloatArray, exposure_of
from risk.fund.liquidation_map import liquidation_map
from risk.fund.parameters import FundParameters
from risk.fund.slippage import DepthBook, book_of
from risk.instruments import Instrument, TierTable

if TYPE_CHECKING:
    from risk.engine import Engine


@dataclass(frozen=True, slots=True, eq=False)
class Market:
    """The broadcast state at an epoch."""

    at: int
    parameters: FundParameters
    symbols: tuple[str, ...]  # engine order
    settle: tuple[str, ...]  # per symbol
    inverse: NDArray[np.bool_]  # per symbol
    contract_size: FloatArray
    beta: FloatArray
    marks: FloatArray  # NaN without a mark
    names: tuple[str, ...]  # sorted: the order of `covariance`
    covariance: FloatArray  # per bar
    balances: dict[str, float]  # fund balance per asset (assets with a fund event)
    drawdowns: dict[str, float | None]
    books: dict[int, DepthBook]  # last depth snapshot by symbol index
    tiers: tuple[TierTable, ...]  # per symbol: its maintenance tiers (the cascade's trigger)


class BookShare:
    """One engine's accounts at an epoch: its exposure, and (computed on first use, so a
    worker can take the snapshot quickly and finish it in a thread) its ADL queue heads and
    liquidation map cells."""

    def __init__(
        self,
        exposure: Exposure,
        instruments: list[Instrument],
        namer: Callable[[int], str],
        top: int,
    ) -> None:
        self.exposure = exposure
        self.instruments = instruments
        self.namer = namer
        self.top = top

    @cached_property
    def adl(self) -> dict[str, dict[str, AdlQueue]]:
        return adl_queues(self.exposure, self.namer, self.top)

    @cached_property
    def liquidation(self) -> dict[str, FloatArray]:
        """Per symbol: 20 bands x (long, short) notional."""
        return liquidation_map(self.exposure, self.instruments)


def take_market(engine: Engine, at: int) -> Market:
    parameters = engine.fund_parameters
    instruments = engine.instruments
    symbols = tuple(instrument.symbol for instrument in instruments)
    names = tuple(sorted(symbols))
    ledger = engine.fund_ledger
    balances = {asset: ledger.balance(asset) for asset in ledger.assets()}
    return Market(
        at=at,
        parameters=parameters,
        symbols=symbols,
        settle=tuple(instrument.settle for instrument in instruments),
        inverse=np.array([i.kind == "inverse" for i in instruments], dtype=np.bool_),
        contract_size=np.array([i.contract_size for i in instruments], dtype=np.float64),
        beta=np.array([i.beta for i in instruments], dtype=np.float64),
        marks=np.array([np.nan if m is None else m for m in engine.marks], dtype=np.float64),
        names=names,
        covariance=engine.volatility.matrix(list(names)),
        balances={asset: value for asset, value in balances.items() if value is not None},
        drawdowns={asset: ledger.drawdown(asset, at - 1) for asset in ledger.assets()},
        books={
            engine.symbols[symbol]: book_of(depth.bids, depth.asks)
            for symbol, depth in engine.depth.items()
        },
        tiers=tuple(instrument.tiers for instrument in instruments),
    )


def take_share(engine: Engine) -> BookShare:
    """The engine's accounts now: copies, valid however the engine goes on."""
    return BookShare(
        exposure_of(engine),
        list(engine.instruments),
        engine.account_namer(),
        engine.fund_parameters.adl_top,
    )
