"""Random books for the fund tests, as plain data, with a brute-force scalar drawdown.

A `Book` is fed to a real engine through events; `brute_drawdown` recomputes SPEC §8's
drawdown (no depth) account by account from the plain data, sharing nothing with risk/fund.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from numpy.typing import NDArray

from risk import Engine
from risk.events import InstrumentEvent, parse_event
from risk.fund.exposure import FloatArray
from risk.fund.projection import depletion_shock, drawdown
from risk.fund.report import engine_share
from risk.fund.share import EpochShare
from tests.risk.builders import accepted, balance, mark, position


@dataclass
class Holding:
    account: str
    symbol: str
    size: float
    entry: float
    isolated_margin: float | None = None


@dataclass
class Book:
    instruments: list[dict[str, Any]]
    marks: dict[str, float]
    wallets: dict[str, float]  # cross wallet per account (one settle asset: USDT)
    holdings: list[Holding] = field(default_factory=list)

    def engine(self, **engine_options: Any) -> Engine:
        definitions = []
        for item in self.instruments:
            parsed = parse_event({"type": "instrument", **item})
            assert isinstance(parsed, InstrumentEvent)
            definitions.append(parsed.instrument)
        engine = Engine(definitions, **engine_options)
        ts = 1
        for symbol, price in self.marks.items():
            accepted(engine, mark(symbol, price, ts))
        for account, wallet in self.wallets.items():
            accepted(engine, balance(account, "USDT", wallet, ts))
        for holding in self.holdings:
            extra: dict[str, Any] = {}
            if holding.isolated_margin is not None:
                extra = {"mode": "isolated", "margin": holding.isolated_margin}
            event = position(holding.account, holding.symbol, holding.size, holding.entry, ts)
            accepted(engine, {**event, **extra})
        return engine

    def margin_accounts(self) -> dict[str, tuple[float, list[Holding]]]:
        """margin account key -> (wallet, holdings)."""
        accounts: dict[str, tuple[float, list[Holding]]] = {}
        for holding in self.holdings:
            if holding.isolated_margin is not None:
                key = f"{holding.account}/isolated/{holding.symbol}"
                accounts[key] = (holding.isolated_margin, [holding])
            else:
                key = f"{holding.account}/cross/USDT"
                wallet = self.wallets.get(holding.account, 0.0)
                accounts.setdefault(key, (wallet, []))[1].append(holding)
        return accounts

    def instrument(self, symbol: str) -> dict[str, Any]:
        return next(item for item in self.instruments if item["symbol"] == symbol)

    def pnl(self, holding: Holding, multiplier: float) -> float:
        item = self.instrument(holding.symbol)
        price = self.marks[holding.symbol] * multiplier
        exposure = holding.size * float(item.get("contract_size", 1.0))
        if item["kind"] == "linear":
            return exposure * (price - holding.entry)
        return exposure * (1.0 / holding.entry - 1.0 / price)

    def equity_at(self, wallet: float, holdings: list[Holding], x: float) -> float:
        equity = wallet
        for holding in holdings:
            beta = self.instrument(holding.symbol).get("beta", 1.0)
            equity += self.pnl(holding, max(1.0 + beta * x, 0.001))
        return equity

    def scale(self) -> float:
        """Gross money of the book: what rounding errors are measured against."""
        total = sum(abs(wallet) for wallet in self.wallets.values())
        for holding in self.holdings:
            total += abs(holding.isolated_margin or 0.0) + abs(self.pnl(holding, 1.0))
            item = self.instrument(holding.symbol)
            quantity = abs(holding.size) * item.get("contract_size", 1.0)
            price = self.marks[holding.symbol]
            total += quantity * price if item["kind"] == "linear" else quantity / price
            total += quantity * holding.entry if item["kind"] == "linear" else 0.0
        return total


class Shocked:
    """One asset's stress grid and depletion shocks in a share, through the projection."""

    def __init__(self, share: EpochShare, asset: str = "USDT") -> None:
        self.share = share
        self.asset = asset

    @classmethod
    def of(cls, engine: Engine, asset: str = "USDT") -> Shocked:
        return cls(engine_share(engine), asset)

    def drawdown(self, shocks: FloatArray) -> tuple[FloatArray, NDArray[np.int64]]:
        """(drawdown, accounts with negative equity) at each shock."""
        share = self.share.stress(self.asset, shocks)
        return drawdown(self.share.market, self.asset, shocks, share), share.negative

    def depletion_shock(self, balance: float | None, direction: int) -> float | None:
        market, stress = self.share.market, self.share.stress

        def losses(shocks: FloatArray) -> FloatArray:
            return drawdown(market, self.asset, shocks, stress(self.asset, shocks))

        return depletion_shock(balance, direction, losses)


def brute_drawdown(book: Book, x: float) -> tuple[float, list[float]]:
    """(sum of deficits, every margin account's equity) at shock x, without depth."""
    equities = [
        book.equity_at(wallet, holdings, x) for wallet, holdings in book.margin_accounts().values()
    ]
    return sum(max(0.0, -equity) for equity in equities), equities


def first_lattice_shock(reaches: Callable[[float], bool], direction: int) -> float | None:
    """Bisection for the smallest |x| = k * 1e-4 in the SPEC §8 range with `reaches(x)`.

    Finds the first crossing only when `reaches` stays true once true (drawdown monotone in
    |x|); None when even the largest shock does not reach.
    """
    limit = 9_900 if direction < 0 else 100_000

    def at(step: int) -> bool:
        return reaches(direction * step / 10_000)

    if not at(limit):
        return None
    low, high = 0, limit
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if at(middle) else (middle, high)
    return direction * high / 10_000


def prices() -> st.SearchStrategy[float]:
    return st.floats(0.5, 5e4)


@st.composite
def books(draw: st.DrawFn, *, single_symbol: bool = False, max_holdings: int = 16) -> Book:
    """1-5 USDT-settled symbols (linear or inverse, beta 0-3), cross and isolated holdings.

    `single_symbol=True` keeps every margin account in one symbol (cross accounts hold one
    symbol each), the case where drawdown(x) is monotone in |x|.
    """
    count = draw(st.integers(1, 5))
    instruments = []
    marks = {}
    for index in range(count):
        symbol = f"S{index}"
        kind = draw(st.sampled_from(("linear", "inverse")))
        instruments.append(
            {
                "symbol": symbol,
                "kind": kind,
                "settle": "USDT",
                "contract_size": draw(st.sampled_from((1.0, 0.1, 10.0))),
                "beta": draw(st.floats(0.0, 3.0)),
                "tiers": [{"cap": 1e5, "mmr": 0.01}, {"mmr": 0.05}],
            }
        )
        marks[symbol] = draw(prices())
    names = [f"a{index}" for index in range(draw(st.integers(1, 6)))]
    wallets = {name: draw(st.floats(0.0, 1e5)) for name in names}
    holdings: list[Holding] = []
    cross_symbol: dict[str, str] = {}
    for _ in range(draw(st.integers(1, max_holdings))):
        account = draw(st.sampled_from(names))
        symbol = draw(st.sampled_from(list(marks)))
        isolated = draw(st.booleans())
        if not isolated and single_symbol:
            symbol = cross_symbol.setdefault(account, symbol)
        size = draw(st.floats(0.01, 50.0)) * draw(st.sampled_from((1.0, -1.0)))
        entry = marks[symbol] * draw(st.floats(0.7, 1.3))
        key = (account, symbol, isolated)
        if any((h.account, h.symbol, h.isolated_margin is not None) == key for h in holdings):
            continue  # one position per (account, symbol, mode) in one-way mode
        if any((h.account, h.symbol) == (account, symbol) for h in holdings):
            continue  # a mode switch would move the position: keep the book simple
        margin = draw(st.floats(0.0, 1e4)) if isolated else None
        holdings.append(Holding(account, symbol, size, entry, margin))
    return Book(instruments, marks, wallets, holdings)
