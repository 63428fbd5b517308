"""The demo's opening book: traders, their positions and wallets, the funds and the depth.

Drawn from a seeded generator over the configured instruments, in shapes a venue sees:

- notional per account: log-normal, median 15,000 USD, sigma 1.4 (a few whales reach the upper
  tiers); leverage: log-normal, median 6x (or the caller's), sigma 0.8, within [1.2, 75];
- 70% of accounts trade the USDT linear contracts, 10% USDC, 20% coin-margined (inverse),
  as far as the configuration has such instruments;
- 65% cross margin (one to three symbols of one settle asset; 5% of them hedge mode, long and
  short in one symbol), 35% one isolated position;
- sides: short with the scenario's `short_bias`; entry prices scattered around the mark
  (log sd 2%), so some accounts open in profit and some in loss;
- every account opens with margin ratio at most a ceiling drawn in [0.3, 0.6] (the wallet is
  topped up where the leverage and the entry loss would say otherwise), so nobody starts at
  margin_call or worse;
- each settle asset's insurance fund holds `FUND_SHARE` of the open notional in that asset;
- the order book: `DEPTH_LEVELS` levels a side, `DEPTH_STEP` apart, each holding
  `DEPTH_SHARE` of the symbol's open interest at normal depth.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from risk.instruments import Instrument

MEDIAN_NOTIONAL: Final = 15_000.0
NOTIONAL_SIGMA: Final = 1.4
MEDIAN_LEVERAGE: Final = 6.0
LEVERAGE_SIGMA: Final = 0.8
MAX_LEVERAGE: Final = 75.0
MAX_OPENING_RATIO: Final = 0.6
MIN_OPENING_CEILING: Final = 0.3
ENTRY_SCATTER: Final = 0.02
FUND_SHARE: Final = 0.05
DEPTH_LEVELS: Final = 20
DEPTH_STEP: Final = 0.0005
DEPTH_SHARE: Final = 0.004
SETTLE_WEIGHTS: Final = {"USDT": 0.7, "USDC": 0.1}  # the rest: coin-margined
CROSS_SHARE: Final = 0.65
HEDGE_SHARE: Final = 0.05
OPENING_PRICES: Final = {
    "BTC": 65_000.0,
    "ETH": 3_200.0,
    "SOL": 150.0,
    "XRP": 0.6,
    "DOGE": 0.15,
    "BNB": 600.0,
}
DEFAULT_PRICE: Final = 100.0


@dataclass(frozen=True)
class Position:
    """One position as the simulator opened it (SPEC §3 `position` fields)."""

    account: str
    symbol: str
    size: float
    entry_price: float
    mode: str
    position_side: str = "both"
    margin: float | None = None

    def event(self, ts: int, size: float | None = None) -> dict[str, Any]:
        """The `position` event of this position, or of its close when `size` is 0."""
        event: dict[str, Any] = {
            "type": "position",
            "account": self.account,
            "symbol": self.symbol,
            "size": self.size if size is None else size,
            "entry_price": self.entry_price,
            "mode": self.mode,
            "position_side": self.position_side,
            "ts": ts,
        }
        if self.margin is not None:
            event["margin"] = self.margin if size is None else 0.0
        return event


@dataclass
class Book:
    """The opening state: margin account id -> its positions, wallets, funds, prices."""

    prices: dict[str, float]
    positions: dict[str, list[Position]] = field(default_factory=lambda: defaultdict(list))
    wallets: dict[tuple[str, str], float] = field(default_factory=dict)  # (account, asset)
    funds: dict[str, float] = field(default_factory=dict)
    open_interest: dict[str, float] = field(default_factory=dict)  # contracts per symbol
    margin_accounts: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def events(self, ts: int) -> list[dict[str, Any]]:
        """Marks, wallets, positions and fund balances at `ts`, in that order."""
        marks = [
            {"type": "mark", "symbol": symbol, "price": price, "ts": ts}
            for symbol, price in self.prices.items()
        ]
        wallets = [
            balance_event(account, asset, wallet, ts)
            for (account, asset), wallet in self.wallets.items()
        ]
        positions = [item.event(ts) for held in self.positions.values() for item in held]
        funds = [
            {"type": "fund", "asset": asset, "balance": balance, "ts": ts}
            for asset, balance in self.funds.items()
        ]
        return marks + wallets + positions + funds

    def account_events(self, account: str, ts: int) -> list[dict[str, Any]]:
        """The wallet and position events of one account opened by `open_account`."""
        wallets: list[dict[str, Any]] = []
        positions: list[dict[str, Any]] = []
        for margin_account in self.margin_accounts[account]:
            _, mode, place = margin_account.split("/", 2)
            wallet = self.wallets.get((account, place)) if mode == "cross" else None
            if wallet is not None:
                wallets.append(balance_event(account, place, wallet, ts))
            positions += [item.event(ts) for item in self.positions[margin_account]]
        return wallets + positions


def balance_event(account: str, asset: str, wallet: float, ts: int) -> dict[str, Any]:
    """The SPEC §3 `balance` event: `account`'s cross wallet of `asset`."""
    return {"type": "balance", "account": account, "asset": asset, "wallet": wallet, "ts": ts}


def opening_price(symbol: str) -> float:
    """A realistic opening mark: by the symbol's base coin (BTCUSDT, BTCUSD_PERP -> BTC)."""
    for coin, price in OPENING_PRICES.items():
        if symbol.startswith(coin):
            return price
    return DEFAULT_PRICE


def build_book(
    instruments: tuple[Instrument, ...], accounts: int, short_bias: float, seed: int
) -> Book:
    """`accounts` traders on `instruments`, drawn from `seed` (same seed, same book)."""
    rng = np.random.default_rng(seed)
    book = Book(prices={item.symbol: opening_price(item.symbol) for item in instruments})
    notional_by_asset: dict[str, float] = defaultdict(float)
    for number in range(accounts):
        account = f"trader-{number:05d}"
        settle, opened = open_account(rng, account, instruments, book, short_bias)
        notional_by_asset[settle] += opened
    book.funds = {
        asset: round(FUND_SHARE * notional, 8) for asset, notional in notional_by_asset.items()
    }
    return book


def _settle_groups(instruments: tuple[Instrument, ...]) -> dict[str, list[Instrument]]:
    groups: dict[str, list[Instrument]] = defaultdict(list)
    for instrument in instruments:
        groups[instrument.settle].append(instrument)
    return dict(groups)


def _group_weights(groups: dict[str, list[Instrument]]) -> tuple[list[str], np.ndarray]:
    """Settle assets and their probabilities: SETTLE_WEIGHTS, the rest shared by the others."""
    names = sorted(groups)
    others = [name for name in names if name not in SETTLE_WEIGHTS]
    rest = 1.0 - sum(SETTLE_WEIGHTS.get(name, 0.0) for name in names)
    raw = np.array(
        [SETTLE_WEIGHTS.get(name, rest / max(len(others), 1)) for name in names], dtype=float
    )
    return names, raw / raw.sum()


def open_account(
    rng: np.random.Generator,
    account: str,
    instruments: tuple[Instrument, ...],
    book: Book,
    short_bias: float,
    *,
    median_leverage: float = MEDIAN_LEVERAGE,
) -> tuple[str, float]:
    """Open one trader's positions at the book's prices; returns the settle asset and their
    notional in it."""
    groups = _settle_groups(instruments)
    names, weights = _group_weights(groups)
    choices = groups[names[int(rng.choice(len(names), p=weights))]]
    usd = float(np.clip(rng.lognormal(math.log(MEDIAN_NOTIONAL), NOTIONAL_SIGMA), 100, 2e7))
    draw = rng.lognormal(math.log(median_leverage), LEVERAGE_SIGMA)
    leverage = float(np.clip(draw, 1.2, MAX_LEVERAGE))
    cross = rng.random() < CROSS_SHARE
    count = int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2])) if cross else 1
    picked = [choices[int(i)] for i in rng.choice(len(choices), min(count, len(choices)), False)]
    sides = ["long", "short"] if cross and rng.random() < HEDGE_SHARE else ["both"]
    legs = [
        (
            instrument,
            side,
            _draw(rng, instrument, book, usd / len(picked), short_bias=short_bias, side=side),
        )
        for instrument in picked
        for side in sides
    ]
    notional = sum(leg.notional for _, _, leg in legs)
    maintenance = sum(instrument.tiers.maintenance(leg.notional) for instrument, _, leg in legs)
    pnl = sum(leg.pnl for _, _, leg in legs)
    ceiling = rng.uniform(MIN_OPENING_CEILING, MAX_OPENING_RATIO)  # traders keep some buffer
    wallet = _round(max(notional / leverage, maintenance / ceiling - pnl))
    settle = choices[0].settle
    for instrument, side, leg in legs:
        mode, margin = ("cross", None) if cross else ("isolated", wallet)
        position = Position(account, instrument.symbol, leg.size, leg.entry, mode, side, margin)
        _place(book, position, settle)
    if cross:
        book.wallets[(account, settle)] = wallet
    return settle, notional


def _place(book: Book, position: Position, settle: str) -> None:
    """Add an opened position to the book, its margin account and its symbol's interest."""
    margin_account = _margin_account(position, settle)
    if margin_account not in book.positions:
        book.margin_accounts[position.account].append(margin_account)
    book.positions[margin_account].append(position)
    interest = book.open_interest.get(position.symbol, 0.0)
    book.open_interest[position.symbol] = interest + abs(position.size)


@dataclass(frozen=True)
class _Leg:
    size: float  # contracts, signed
    entry: float
    notional: float  # in the settle asset, at the mark
    pnl: float  # unrealized at the mark, in the settle asset


def _draw(
    rng: np.random.Generator,
    instrument: Instrument,
    book: Book,
    usd: float,
    *,
    short_bias: float,
    side: str,
) -> _Leg:
    """One leg of `usd` at the book's mark; short by `side`, or with `short_bias` in one-way."""
    short = side == "short" or (side == "both" and rng.random() < short_bias)
    return _leg(rng, instrument, book.prices[instrument.symbol], usd, short)


def _leg(
    rng: np.random.Generator, instrument: Instrument, mark: float, usd: float, short: bool
) -> _Leg:
    entry = float(significant(mark * math.exp(rng.normal(0.0, ENTRY_SCATTER))))
    sign = -1.0 if short else 1.0
    size_step = instrument.contract_size
    if instrument.kind == "inverse":
        contracts = max(1.0, round(usd / size_step))
        size = sign * contracts
        notional = contracts * size_step / mark
        pnl = size * size_step * (1.0 / entry - 1.0 / mark)
    else:
        contracts = float(significant(usd / (size_step * mark)))
        size = sign * contracts
        notional = contracts * size_step * mark
        pnl = size * size_step * (mark - entry)
    return _Leg(size, entry, notional, pnl)


def _margin_account(position: Position, settle: str) -> str:
    if position.mode == "cross":
        return f"{position.account}/cross/{settle}"
    return f"{position.account}/isolated/{position.symbol}"


def significant(value: float, digits: int = 6) -> float:
    """`value` to `digits` significant digits, as a trader's order would carry."""
    if value == 0:
        return 0.0
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _round(value: float) -> float:
    """A wallet to 8 significant digits, rounded up (so the opening ratio cap holds)."""
    scale = 10.0 ** (7 - math.floor(math.log10(abs(value))))
    return math.ceil(value * scale) / scale
