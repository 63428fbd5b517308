"""The demo's market: scripted marks with correlated noise, order-book depth, and a
liquidation desk that takes over the accounts riskmon flags.

`MarketSimulator` emits SPEC §3 events (plain dicts) for simulated time; it reads no clock.

- `opening(ts)`: the book of `streams.demo.book` at `ts`;
- `advance(ts)`: one mark per symbol at `ts` and its depth, from the scenario's market move and
  a correlated random walk (`streams.demo.scenarios`): between the previous step and `ts` the
  walk of symbol s gains `sqrt(v dt) (sqrt(c) Z + sqrt(1 - c) E_s)`, v = volatility^2 / year;
  New traders arrive too, `ARRIVAL_RATE` of the opening accounts per simulated hour, times
  `1 + ARRIVAL_PANIC |m(t)|`: dip buyers (or late shorts in a squeeze) at `ARRIVAL_LEVERAGE`
  median leverage, so the book gets riskier as the market moves;
- `take_over(margin_account, equity, ts)`: what a venue's liquidation engine does with an
  account riskmon published at `liquidation` or `bankrupt`. It closes every position at the
  mark, and the insurance fund absorbs the account's remaining equity. That is its clearance
  fee when positive, the deficit it pays when negative. The fund event carries the new balance;
  a deficit past an empty fund is socialised (ADL) and counted in `socialised`.
  The desk closes at most `desk_capacity()` accounts a step: `DESK_RATE` of the opening
  accounts per simulated minute, times the book's depth. In thin books the queue grows, and
  accounts waiting in it can go bankrupt.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np

from risk.instruments import Instrument
from streams.demo.book import (
    DEPTH_LEVELS,
    DEPTH_SHARE,
    DEPTH_STEP,
    Book,
    balance_event,
    build_book,
    open_account,
    significant,
)
from streams.demo.scenarios import Scenario

YEAR_SECONDS: Final = 365.0 * 86_400.0
ARRIVAL_RATE: Final = 0.02
ARRIVAL_PANIC: Final = 10.0
ARRIVAL_LEVERAGE: Final = 15.0
DESK_RATE: Final = 0.002


class MarketSimulator:
    """A seeded market for one scenario over a configured instrument set."""

    def __init__(
        self,
        instruments: tuple[Instrument, ...],
        scenario: Scenario,
        accounts: int,
        seed: int,
    ) -> None:
        self.instruments = instruments
        self.scenario = scenario
        self.book: Book = build_book(instruments, accounts, scenario.short_bias, seed)
        self.rng = np.random.default_rng(seed + 1)
        self.settle = {item.symbol: item.settle for item in instruments}
        self.exposure = np.array(
            [
                item.beta * (scenario.alt_amplifier if item.beta > 1.0 else 1.0)
                for item in instruments
            ]
        )
        self.noise = np.zeros(len(instruments))
        self.opening_prices = np.array([self.book.prices[item.symbol] for item in instruments])
        self.marks = dict(self.book.prices)
        self.opening_marks = dict(self.book.prices)
        self.funds = dict(self.book.funds)
        self.start_ts: int | None = None
        self.last_ts: int | None = None
        self.taken_over: set[str] = set()
        self.socialised: dict[str, float] = {}  # deficits past an empty fund, per asset
        self.accounts = accounts
        self.arrived = 0
        self.step_seconds = 0.0

    def opening(self, ts: int) -> list[dict[str, Any]]:
        """The opening book at `ts`, then the depth of every symbol."""
        self.start_ts = self.last_ts = ts
        return self.book.events(ts) + self._depth(ts)

    def advance(self, ts: int) -> list[dict[str, Any]]:
        """Marks and depth of every symbol at `ts` (ms, after the previous step)."""
        if self.start_ts is None or self.last_ts is None:
            raise RuntimeError("opening() first")
        seconds = self._elapsed(ts)
        self.step_seconds = (ts - self.last_ts) / 1000.0
        self._walk(self.step_seconds)
        self.last_ts = ts
        market = self.scenario.market_move(seconds)
        move = market * self.exposure + self.noise
        prices = self.opening_prices * np.exp(move)
        events: list[dict[str, Any]] = []
        for instrument, price in zip(self.instruments, prices, strict=True):
            mark = significant(float(price), 8)
            self.marks[instrument.symbol] = mark
            events.append({"type": "mark", "symbol": instrument.symbol, "price": mark, "ts": ts})
        return events + self._depth(ts) + self._arrivals(abs(market), ts)

    def desk_capacity(self) -> int:
        """Accounts the liquidation desk can close in the last step (at least one)."""
        depth = self.scenario.depth(self._elapsed(self.last_ts))
        per_minute = DESK_RATE * self.accounts * depth
        return max(1, round(per_minute * self.step_seconds / 60.0))

    def _arrivals(self, move: float, ts: int) -> list[dict[str, Any]]:
        """New traders opening at the current marks during the last step."""
        hours = self.step_seconds / 3600.0
        expected = ARRIVAL_RATE * self.accounts * hours * (1.0 + ARRIVAL_PANIC * move)
        self.book.prices = dict(self.marks)
        events: list[dict[str, Any]] = []
        for _ in range(int(self.rng.poisson(expected))):
            account = f"trader-{self.accounts + self.arrived:05d}"
            self.arrived += 1
            open_account(
                self.rng,
                account,
                self.instruments,
                self.book,
                self.scenario.short_bias,
                median_leverage=ARRIVAL_LEVERAGE,
            )
            events += self.book.account_events(account, ts)
        return events

    def take_over(self, margin_account: str, equity: float, ts: int) -> list[dict[str, Any]]:
        """Close a flagged account at the marks; its fund absorbs `equity` (settle asset)."""
        if margin_account in self.taken_over:
            return []
        positions = self.book.positions.get(margin_account, [])
        if not positions:
            return []
        self.taken_over.add(margin_account)
        events = [position.event(ts, size=0.0) for position in positions]
        first = positions[0]
        settle = self.settle[first.symbol]
        if first.mode == "cross":
            events.append(balance_event(first.account, settle, 0.0, ts))
        balance = self.funds.get(settle, 0.0) + equity
        if balance < 0:  # the fund is gone: the rest is socialised (ADL), not the fund's
            self.socialised[settle] = self.socialised.get(settle, 0.0) - balance
            balance = 0.0
        self.funds[settle] = balance
        events.append({"type": "fund", "asset": settle, "balance": balance, "ts": ts})
        return events

    def _elapsed(self, ts: int | None) -> float:
        """Simulated seconds from the opening to `ts` (0 before the opening)."""
        if self.start_ts is None or ts is None:
            return 0.0
        return (ts - self.start_ts) / 1000.0

    def _walk(self, seconds: float) -> None:
        if seconds <= 0:
            return
        scenario = self.scenario
        scale = scenario.volatility * math.sqrt(seconds / YEAR_SECONDS)
        common = self.rng.standard_normal()
        own = self.rng.standard_normal(len(self.instruments))
        shock = math.sqrt(scenario.correlation) * common + math.sqrt(1 - scenario.correlation) * own
        self.noise += scale * shock

    def _depth(self, ts: int) -> list[dict[str, Any]]:
        """Every symbol's book around its mark, as deep as the scenario allows at `ts`."""
        factor = self.scenario.depth(self._elapsed(ts))
        events = []
        for symbol, interest in self.book.open_interest.items():
            mark = self.marks[symbol]
            size = significant(max(interest * DEPTH_SHARE * factor, 1e-6), 8)
            steps = range(1, DEPTH_LEVELS + 1)
            events.append(
                {
                    "type": "depth",
                    "symbol": symbol,
                    "bids": [[significant(mark * (1 - DEPTH_STEP * k), 8), size] for k in steps],
                    "asks": [[significant(mark * (1 + DEPTH_STEP * k), 8), size] for k in steps],
                    "ts": ts,
                }
            )
        return events
