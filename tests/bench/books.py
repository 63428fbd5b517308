"""The benchmark book and a plain-Python scalar baseline over the same data.

Book (a)/(c): `accounts` cross margin accounts in hedge mode on BTCUSDT, each with a long and a
short leg of different sizes (2 positions per account). Wallets follow a leverage distribution
on the gross notional, as venues cap leverage by position notional: mostly 2x-25x, and 5% of
accounts at 50x-125x, which are the ones a small move pushes across thresholds.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from typing import Any

from risk import Engine, Thresholds, parse_event
from streams.config import load_config

SYMBOL = "BTCUSDT"
START_PRICE = 65000.0
LEVERAGES = (2, 3, 5, 5, 10, 10, 10, 20, 20, 25)
TAIL_LEVERAGES = (50, 75, 100, 125)


@dataclass
class BookSpec:
    account: str
    wallet: float
    long_size: float
    short_size: float
    entry: float


def book_specs(accounts: int, seed: int = 11) -> list[BookSpec]:
    rng = random.Random(seed)
    specs = []
    for number in range(accounts):
        long_size = rng.lognormvariate(-2.5, 1.0)
        short_size = long_size * rng.uniform(0.0, 0.8)
        gross_notional = (long_size + short_size) * START_PRICE
        leverage = rng.choice(TAIL_LEVERAGES if rng.random() < 0.05 else LEVERAGES)
        wallet = gross_notional / leverage
        entry = START_PRICE * rng.uniform(0.97, 1.03)
        specs.append(BookSpec(f"acct-{number}", wallet, long_size, short_size, entry))
    return specs


def build_engine(specs: list[BookSpec]) -> Engine:
    """The book through the engine's public API, one event at a time."""
    config = load_config(None)
    engine = Engine(config.instruments, config.thresholds)
    apply = engine.apply
    apply(parse_event({"type": "mark", "symbol": SYMBOL, "price": START_PRICE, "ts": 1}))
    for spec in specs:
        apply(
            parse_event(
                {
                    "type": "balance",
                    "account": spec.account,
                    "asset": "USDT",
                    "wallet": spec.wallet,
                    "ts": 2,
                }
            )
        )
        for side, size in (("long", spec.long_size), ("short", -spec.short_size)):
            if size:
                apply(
                    parse_event(
                        {
                            "type": "position",
                            "account": spec.account,
                            "symbol": SYMBOL,
                            "size": size,
                            "entry_price": spec.entry,
                            "position_side": side,
                            "ts": 3,
                        }
                    )
                )
    return engine


class ScalarBook:
    """The same book in Python lists, revalued by a plain loop: the baseline of (a)."""

    def __init__(self, specs: list[BookSpec], thresholds: Thresholds) -> None:
        tiers = next(i for i in load_config(None).instruments if i.symbol == SYMBOL).tiers
        self.caps, self.mmrs, self.cums = list(tiers.caps), list(tiers.mmrs), list(tiers.cums)
        self.thresholds = thresholds
        self.owner: list[int] = []
        self.size: list[float] = []
        self.entry: list[float] = []
        self.wallet = [spec.wallet for spec in specs]
        self.level = [0] * len(specs)
        for index, spec in enumerate(specs):
            for size in (spec.long_size, -spec.short_size):
                if size:
                    self.owner.append(index)
                    self.size.append(size)
                    self.entry.append(spec.entry)

    def tick(self, price: float) -> int:
        """Revalue every position and re-level every account; returns the level changes."""
        equity = list(self.wallet)
        maintenance = [0.0] * len(self.wallet)
        caps, mmrs, cums = self.caps, self.mmrs, self.cums
        for owner, size, entry in zip(self.owner, self.size, self.entry, strict=True):
            notional = abs(size) * price
            tier = bisect.bisect_left(caps, notional)
            equity[owner] += (price - entry) * size
            maintenance[owner] += notional * mmrs[tier] - cums[tier]
        changes = 0
        next_level = self.thresholds.next_level
        for account, current in enumerate(self.level):
            level = next_level(current, equity[account], maintenance[account])
            if level != current:
                self.level[account] = level
                changes += 1
        return changes


def naive_positions(specs: list[BookSpec]) -> list[dict[str, Any]]:
    """The naive representation measured as the memory baseline of (c)."""
    rows = []
    for spec in specs:
        for side, size in (("long", spec.long_size), ("short", -spec.short_size)):
            if size:
                rows.append(
                    {
                        "account": spec.account,
                        "symbol": SYMBOL,
                        "position_side": side,
                        "size": size,
                        "entry_price": spec.entry,
                        "wallet": spec.wallet,
                        "unrealized_pnl": 0.0,
                        "maintenance_margin": 0.0,
                    }
                )
    return rows
