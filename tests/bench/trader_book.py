"""The traders of the benchmark stream (tests/bench/generate.py): their accounts and legs, the
money of each margin account at the generator's marks, and the marks at which each reaches its
maintenance margin (the generator's liquidation engine)."""

from __future__ import annotations

import heapq
import math
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from risk import Instrument
from tests.bench.books import LEVERAGE_WEIGHTS, LEVERAGES

Group = str  # a margin account of one trader: the settle asset (cross) or "SYMBOL/side"


@dataclass(slots=True)
class Leg:
    symbol: int
    size: float
    entry: float
    margin: float | None  # isolated wallet; None for cross
    line: str = ""  # the last line sent for this position


@dataclass(slots=True)
class Account:
    number: int
    name: str
    hedge: bool
    symbols: list[int]
    leverage: float
    usd_wallet: float
    wallets: dict[str, float] = field(default_factory=dict)
    balance_lines: dict[str, str] = field(default_factory=dict)
    legs: dict[tuple[int, str], Leg] = field(default_factory=dict)
    versions: dict[Group, int] = field(default_factory=dict)
    shared: list[Group] = field(default_factory=list)  # cross groups of 2 or more symbols


@dataclass(order=True, slots=True)
class Trigger:
    """A mark at which a margin account reaches its maintenance margin (`key` orders the heap)."""

    key: float
    account: int = field(compare=False)
    group: Group = field(compare=False)
    version: int = field(compare=False)


class TraderBook(ABC):
    """The money side of the generator; `StreamWriter` sets the state and writes the lines."""

    rng: random.Random
    instruments: list[Instrument]
    prices: list[float]
    accounts: list[Account | None]
    falling: list[list[Trigger]]
    rising: list[list[Trigger]]
    popularity: list[int]

    @abstractmethod
    def position(
        self, account: Account, side: str, leg: Leg, size: float, entry: float, *, arm: bool = True
    ) -> None:
        """Send a position line for the leg (and re-arm its margin account's trigger)."""

    @abstractmethod
    def balance(self, account: Account, asset: str, wallet: float, *, arm: bool = True) -> None:
        """Send a balance line (and re-arm the cross margin account's trigger)."""

    def new_account(self, number: int) -> Account:
        rng = self.rng
        chosen: list[int] = []
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
            symbol = rng.choices(range(len(self.instruments)), weights=self.popularity)[0]
            if symbol not in chosen:
                chosen.append(symbol)
        leverage = rng.choices(LEVERAGES, weights=LEVERAGE_WEIGHTS)[0]
        usd_wallet = min(rng.lognormvariate(math.log(1_500.0), 1.5), 5_000_000.0)
        account = Account(
            number, f"acct-{number}", rng.random() < 0.3, chosen, leverage, usd_wallet
        )
        settles = [self.instruments[symbol].settle for symbol in chosen]
        account.shared = sorted({asset for asset in settles if settles.count(asset) > 1})
        return account

    def opening_wallet(self, account: Account, symbol: int) -> float:
        """The account's USD wallet share for this asset, in the settle asset's units."""
        share = account.usd_wallet / len(account.symbols)
        if self.instruments[symbol].kind == "inverse":
            return share / self.prices[symbol]
        return share

    def affordable(self, account: Account, side: str, leg: Leg, size: float) -> bool:
        """Whether the margin account still holds twice its maintenance margin (the initial
        margin) with `leg` at `size`, as a venue checks before it accepts an order."""
        previous, leg.size = leg.size, size
        group = self.group_of(leg, side)
        equity, maintenance = self.money(account, group, self.members(account, group))
        leg.size = previous
        return equity >= 2.0 * maintenance

    def group_of(self, leg: Leg, side: str) -> Group:
        instrument = self.instruments[leg.symbol]
        return instrument.settle if leg.margin is None else f"{instrument.symbol}/{side}"

    def members(self, account: Account, group: Group) -> list[tuple[str, Leg]]:
        """The (side, leg) pairs of one margin account of `account`."""
        if "/" in group:  # isolated: "SYMBOL/side"
            symbol, side = group.split("/")
            return [
                (s, leg)
                for (_, s), leg in account.legs.items()
                if s == side
                and leg.margin is not None
                and self.instruments[leg.symbol].symbol == symbol
            ]
        return [
            (side, leg)
            for (_, side), leg in account.legs.items()
            if leg.margin is None and self.instruments[leg.symbol].settle == group
        ]

    def money(
        self, account: Account, group: Group, legs: list[tuple[str, Leg]]
    ) -> tuple[float, float]:
        """(equity, maintenance margin) of the margin account at the current marks."""
        if "/" in group:
            margin = legs[0][1].margin
            equity = 0.0 if margin is None else margin
        else:
            equity = account.wallets.get(group, 0.0)
        maintenance = 0.0
        for _, leg in legs:
            instrument = self.instruments[leg.symbol]
            price, contract_size = self.prices[leg.symbol], instrument.contract_size
            if instrument.kind == "linear":
                notional = abs(leg.size) * contract_size * price
                equity += (price - leg.entry) * leg.size * contract_size
            else:
                notional = abs(leg.size) * contract_size / price
                equity += (1.0 / leg.entry - 1.0 / price) * leg.size * contract_size
            maintenance += instrument.tiers.maintenance(notional)
        return equity, maintenance

    def arm(self, account: Account, group: Group) -> None:
        """Record the margin account's change and push, per symbol it holds, the mark at which
        equity meets maintenance margin (tiers and other marks held at their current values)."""
        version = account.versions[group] = account.versions.get(group, 0) + 1
        legs = self.members(account, group)
        if not legs:
            return
        equity, maintenance = self.money(account, group, legs)
        rest = equity - maintenance
        if rest <= 0.0:  # already there (a withdrawal, or marks of other symbols moved)
            self.liquidate_group(account, group)
            return
        by_symbol: dict[int, list[Leg]] = {}
        for _, leg in legs:
            by_symbol.setdefault(leg.symbol, []).append(leg)
        for symbol, held in by_symbol.items():
            instrument = self.instruments[symbol]
            price, contract_size = self.prices[symbol], instrument.contract_size
            inverse = instrument.kind == "inverse"
            v = 1.0 / price if inverse else price  # equity - maintenance is linear in v
            slope = 0.0
            for leg in held:
                quantity = abs(leg.size) * contract_size
                rate = instrument.tiers.mmrs[instrument.tiers.tier(quantity * v)]
                slope += (-leg.size if inverse else leg.size) * contract_size - quantity * rate
            if slope == 0.0:
                continue
            root = v - rest / slope  # rest + slope * (root - v) = 0
            if root <= 0.0:
                continue
            trigger = 1.0 / root if inverse else root
            # Liquidated when v moves from the current one towards the root.
            towards_lower_price = (root < v) != inverse
            if towards_lower_price:
                heapq.heappush(
                    self.falling[symbol], Trigger(-trigger, account.number, group, version)
                )
            else:
                heapq.heappush(
                    self.rising[symbol], Trigger(trigger, account.number, group, version)
                )

    def liquidate_group(self, account: Account, group: Group) -> bool:
        """Close the margin account's positions if it is at or past maintenance; True if so.

        The liquidation fee takes half the maintenance margin; a cross wallet keeps the rest.
        """
        legs = self.members(account, group)
        if not legs:
            return False
        equity, maintenance = self.money(account, group, legs)
        if equity > maintenance:
            return False
        for side, leg in legs:
            self.position(account, side, leg, 0.0, leg.entry, arm=False)
        if "/" not in group:
            self.balance(account, group, max(0.0, equity - maintenance / 2), arm=False)
        self.arm(account, group)
        return True
