"""Immutable output records: transitions (SPEC §7) and account snapshots (SPEC §10).

`as_record()` gives plain JSON-ready dicts with the SPEC's keys in the SPEC's order; every
number is a finite float or None.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple


def finite(value: float | None) -> float | None:
    """A JSON-safe number: None for None, NaN or an infinity."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


class PositionView(NamedTuple):
    symbol: str
    position_side: str
    size: float
    entry_price: float
    mark_price: float | None
    notional: float
    unrealized_pnl: float
    maintenance_margin: float
    liquidation_price: float | None
    bankruptcy_price: float | None

    def as_record(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "position_side": self.position_side,
            "size": float(self.size),
            "entry_price": finite(self.entry_price),
            "mark_price": finite(self.mark_price),
            "notional": finite(self.notional),
            "unrealized_pnl": finite(self.unrealized_pnl),
            "maintenance_margin": finite(self.maintenance_margin),
            "liquidation_price": finite(self.liquidation_price),
            "bankruptcy_price": finite(self.bankruptcy_price),
        }


class PlanStep(NamedTuple):
    """One reduction of a partial-liquidation plan (SPEC §7.1)."""

    symbol: str
    position_side: str
    close_size: float  # contracts closed, > 0
    expected_fill_price: float  # the average price of the fills against the depth snapshot
    slippage: float  # their cost against the mark, in the settle asset

    def as_record(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "position_side": self.position_side,
            "close_size": float(self.close_size),
            "expected_fill_price": finite(self.expected_fill_price),
            "slippage": finite(self.slippage),
        }


class Transition(NamedTuple):
    """One level change of a margin account, published on the liquidation topic.

    A record reaching `liquidation` or `bankrupt` carries SPEC §7.1's fields:
    `effective_bankruptcy_prices` (one per position, in their order) and `liquidation_plan`
    (None: only a full close works); on other records the first is None and neither is
    written.
    """

    event_id: str
    margin_account: str
    account: str
    mode: str
    settle: str
    from_level: str
    to_level: str
    margin_ratio: float | None
    equity: float | None
    maintenance_margin: float
    ts: int
    trigger: str
    positions: tuple[PositionView, ...]
    effective_bankruptcy_prices: tuple[float | None, ...] | None = None
    liquidation_plan: tuple[PlanStep, ...] | None = None

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "event_id": self.event_id,
            "margin_account": self.margin_account,
            "account": self.account,
            "mode": self.mode,
            "settle": self.settle,
            "from": self.from_level,
            "to": self.to_level,
            "margin_ratio": finite(self.margin_ratio),
            "equity": finite(self.equity),
            "maintenance_margin": finite(self.maintenance_margin),
            "ts": self.ts,
            "trigger": self.trigger,
            "positions": [position.as_record() for position in self.positions],
        }
        if self.effective_bankruptcy_prices is not None:
            for position, price in zip(
                record["positions"], self.effective_bankruptcy_prices, strict=True
            ):
                position["effective_bankruptcy_price"] = price
            plan = self.liquidation_plan
            record["liquidation_plan"] = (
                None if plan is None else [step.as_record() for step in plan]
            )
        return record


class AccountView(NamedTuple):
    """A tracked margin account as the replay summary and the HTTP API show it."""

    margin_account: str
    account: str
    mode: str
    settle: str
    wallet: float
    equity: float
    maintenance_margin: float
    margin_ratio: float | None
    level: str
    positions: tuple[PositionView, ...]

    def as_record(self) -> dict[str, Any]:
        return {
            "margin_account": self.margin_account,
            "account": self.account,
            "mode": self.mode,
            "settle": self.settle,
            "wallet": finite(self.wallet),
            "equity": finite(self.equity),
            "maintenance_margin": finite(self.maintenance_margin),
            "margin_ratio": finite(self.margin_ratio),
            "level": self.level,
            "positions": [position.as_record() for position in self.positions],
        }
