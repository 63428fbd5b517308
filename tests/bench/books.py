"""The book of benchmarks (a) and (c), and the plain-Python scalar tick that is (a)'s baseline.

`accounts` cross margin accounts (USDT) in hedge mode on BTCUSDT, each with a long and a short
leg of different sizes: 2 positions per account, all on the one symbol a mark tick revalues.

- The main leg's notional is lognormal (median $6,000, capped at $5M, so a few whales reach the
  upper tiers); the other leg is 5%-95% of it; half the accounts are net long, half net short.
- Leverage is the trader's setting, which in hedge mode applies to each leg (gross notional /
  initial margin), drawn as in the replay stream: mostly 2x-25x, 12% at 50x-125x, at most the
  tier's limit (0.5 / mmr of the main leg's tier). Equity is the
  initial margin plus an exponential headroom (mean 50%), so almost every account starts `safe`.
- Each leg was opened at its own price (mark +- 1%, normal); the wallet is what makes equity that
  amount at the starting mark, given the legs' uPnL.

The high-leverage, barely hedged accounts are the ones a +-0.5% tick moves across thresholds.
"""

from __future__ import annotations

import bisect
import math
import random
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from risk import Engine, parse_event
from streams.config import load_config

SYMBOL = "BTCUSDT"
START_PRICE = 65_000.0
LEVERAGES = (2, 3, 5, 10, 20, 25, 50, 75, 100, 125)
LEVERAGE_WEIGHTS = (14, 14, 20, 20, 12, 8, 6, 3, 2, 1)


@dataclass(slots=True)
class BookSpec:
    """One margin account of the book (its name is made when it is used: `account_name`)."""

    wallet: float
    long_size: float
    long_entry: float
    short_size: float  # > 0: the short leg holds -short_size
    short_entry: float


def account_name(number: int) -> str:
    return f"acct-{number}"


def book_specs(accounts: int, seed: int = 11) -> list[BookSpec]:
    rng = random.Random(seed)
    tiers = next(i.tiers for i in load_config(None).instruments if i.symbol == SYMBOL)
    specs = []
    for _ in range(accounts):
        main = min(rng.lognormvariate(math.log(6_000.0), 1.3), 5_000_000.0)
        hedge = main * rng.uniform(0.05, 0.95)
        long_notional, short_notional = (main, hedge) if rng.random() < 0.5 else (hedge, main)
        long_size, short_size = long_notional / START_PRICE, short_notional / START_PRICE
        long_entry = START_PRICE * (1.0 + rng.gauss(0.0, 0.01))
        short_entry = START_PRICE * (1.0 + rng.gauss(0.0, 0.01))
        setting = rng.choices(LEVERAGES, weights=LEVERAGE_WEIGHTS)[0]
        leverage = min(setting, 0.5 / tiers.mmrs[tiers.tier(main)])  # the venue's tier limit
        equity = (long_notional + short_notional) / leverage * (1.0 + rng.expovariate(2.0))
        pnl = long_size * (START_PRICE - long_entry) - short_size * (START_PRICE - short_entry)
        wallet = max(equity - pnl, 0.0)
        specs.append(BookSpec(wallet, long_size, long_entry, short_size, short_entry))
    return specs


def build_engine(specs: list[BookSpec]) -> Engine:
    """The book through the engine's public API: `Engine.apply` of parsed events."""
    config = load_config(None)
    engine = config.engine()
    apply = engine.apply
    apply(parse_event({"type": "mark", "symbol": SYMBOL, "price": START_PRICE, "ts": 1}))
    for number, spec in enumerate(specs):
        name = account_name(number)
        apply(
            parse_event(
                {
                    "type": "balance",
                    "account": name,
                    "asset": "USDT",
                    "wallet": spec.wallet,
                    "ts": 2,
                }
            )
        )
        for side, size, entry in (
            ("long", spec.long_size, spec.long_entry),
            ("short", -spec.short_size, spec.short_entry),
        ):
            apply(
                parse_event(
                    {
                        "type": "position",
                        "account": name,
                        "symbol": SYMBOL,
                        "size": size,
                        "entry_price": entry,
                        "position_side": side,
                        "ts": 3,
                    }
                )
            )
    return engine


class ScalarBook:
    """The engine's book copied out into Python lists, revalued by a plain loop: (a)'s baseline.

    Per position: notional, uPnL, tier (bisect), maintenance margin; per margin account: the
    sums and the level with hysteresis. No records are built (the engine builds one for every
    level change), so the baseline is, if anything, flattered.
    """

    def __init__(self, engine: Engine, symbol: str) -> None:
        index = engine.symbols[symbol]
        block = engine.blocks[index]
        tiers = engine.instruments[index].tiers
        self.caps, self.mmrs, self.cums = list(tiers.caps), list(tiers.mmrs), list(tiers.cums)
        self.owner: list[int] = block.account.tolist()
        self.size: list[float] = block.size.tolist()
        self.entry: list[float] = block.entry.tolist()
        self.wallet: list[float] = engine.margin.wallet.tolist()
        self.level: list[int] = engine.margin.level.tolist()
        self.held: list[int] = engine.margin.positions.tolist()
        thresholds = engine.thresholds
        self.bounds = [thresholds.watch, thresholds.margin_call, thresholds.liquidation]
        self.hysteresis = thresholds.hysteresis

    @property
    def positions(self) -> int:
        return len(self.size)

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
        bounds, hysteresis, levels = self.bounds, self.hysteresis, self.level
        changes = 0
        for account, current in enumerate(levels):
            if not self.held[account]:
                continue
            money = equity[account]
            if money <= 0.0:
                level = 4
            else:
                ratio = maintenance[account] / money
                level = bisect.bisect_right(bounds, ratio)
                if level <= current:
                    lower = bisect.bisect_right(bounds, ratio + hysteresis)
                    level = lower if lower < current else current
            if level != current:
                levels[account] = level
                changes += 1
        return changes


def naive_book(specs: list[BookSpec]) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The naive representation, (c)'s baseline: a dict per position and a wallet per account.

    Names are made per position, as decoding each event would make them.
    """
    rows: list[dict[str, Any]] = []
    wallets: dict[str, float] = {}
    for number, spec in enumerate(specs):
        wallets[account_name(number)] = spec.wallet
        for side, size, entry in (
            ("long", spec.long_size, spec.long_entry),
            ("short", -spec.short_size, spec.short_entry),
        ):
            rows.append(
                {
                    "account": account_name(number),
                    "symbol": SYMBOL,
                    "position_side": side,
                    "mode": "cross",
                    "size": size,
                    "entry_price": entry,
                    "unrealized_pnl": 0.0,
                    "maintenance_margin": 0.0,
                }
            )
    return rows, wallets


def column_bytes(engine: Engine) -> int:
    """Bytes held by the engine's typed columns (a lower bound of its footprint)."""
    return sum(column.itemsize * len(column) for column in _typed_columns(engine))


def _typed_columns(engine: Engine) -> Iterator[array[Any]]:
    """Every typed column of the book: positions, margin accounts, symbol blocks."""
    holders: list[Any] = [engine.positions, engine.margin, *engine.blocks]
    for holder in holders:
        for name in holder.__slots__:
            column = getattr(holder, name)
            if isinstance(column, array):
                yield column


def footprint(engine: Engine) -> dict[str, int]:
    """Where the engine's bytes are, by holder (sys.getsizeof, so allocator overhead and
    shared objects are not counted): the columns' used bytes and their spare room, then each
    Python container with the objects only it holds (names, keys, values)."""
    used = column_bytes(engine)
    allocated = sum(sys.getsizeof(column) for column in _typed_columns(engine))
    sizes = {"columns (used)": used, "columns (spare room)": allocated - used}
    for name in ("account_names", "account_refs"):
        held = getattr(engine, name)
        sizes[name] = sys.getsizeof(held) + sum(_object_bytes(item) for item in held)
    for name in ("accounts_by_name", "cross_accounts", "isolated_accounts", "tombstones"):
        held = getattr(engine, name)
        inner = sum(_object_bytes(key) + _object_bytes(value) for key, value in held.items())
        sizes[name] = sys.getsizeof(held) + inner
    sizes["accounts_by_name"] -= sum(sys.getsizeof(name) for name in engine.accounts_by_name)
    return sizes


def _object_bytes(item: object) -> int:
    """The bytes of an object a container holds alone (small ints are shared: 0)."""
    if isinstance(item, int) and -5 <= item <= 256:
        return 0
    if isinstance(item, dict):
        return sys.getsizeof(item) + sum(
            _object_bytes(key) + _object_bytes(value) for key, value in item.items()
        )
    return sys.getsizeof(item)
