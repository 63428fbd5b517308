"""What one process contributes to a fund projection at an epoch, and how shares add up.

A process (a worker with its partition tasks, or a replay) holds some of the accounts. Its
`EpochShare` joins the `BookShare`s of its engines (their accounts are disjoint) and answers,
for any settle asset:

- `stress(asset, shocks)`: the deficit sum, the accounts in deficit and the contracts they hold
  per symbol and side, at each shock: all additive over processes (`StressShare.__add__`);
- `weights(asset, shocks)` and `queue(asset, shocks, need)`: loss allocation's two questions
  (risk/fund/allocation_book.py), additive and joinable over processes;
- `totals()`: per asset and horizon the drawdown of every Monte Carlo path (the paths are the
  same everywhere: risk/fund/montecarlo.py), the ADL queue heads with their lengths, the
  liquidation map cells and the two largest owner deficits at each grid shock (Cover-N):
  all mergeable (`Totals.merge`).

Slippage is not additive (a book walk is convex in the size): risk/fund/projection.py prices
it once, on the summed contracts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from risk.fund.adl import AdlQueue, merge_queues
from risk.fund.allocation_book import AllocationBook, QueuePrefix, WeightShare
from risk.fund.cascade import RoundShare
from risk.fund.cascade_book import CascadeBook
from risk.fund.cover import TopTwo, merge_top_two, top_two
from risk.fund.exposure import Exposure, FloatArray, fieldwise_sum
from risk.fund.montecarlo import PathSet, draw_paths
from risk.fund.profile import AssetProfile, profiles_of
from risk.fund.snapshot import BookShare, Market


class StressShare(NamedTuple):
    """At n shocks: deficit sum, accounts in deficit, 2 x (asset's symbols) x n contracts."""

    deficit: FloatArray
    negative: NDArray[np.int64]
    closing: FloatArray

    def __add__(self, other: object) -> StressShare:
        return fieldwise_sum(self, other)


class Totals(NamedTuple):
    """The non-interactive parts of a share: Monte Carlo, ADL, liquidation map, Cover-N."""

    losses: dict[str, list[FloatArray]]  # asset -> per horizon, per path
    adl: dict[str, dict[str, AdlQueue]]
    liquidation: dict[str, FloatArray]
    cover: TopTwo  # asset -> 2 x grid shocks (risk/fund/cover.py)

    @staticmethod
    def merge(parts: list[Totals], top: int) -> Totals:
        losses: dict[str, list[FloatArray]] = {}
        for part in parts:
            for asset, horizons in part.losses.items():
                if asset in losses:
                    losses[asset] = [
                        mine + theirs for mine, theirs in zip(losses[asset], horizons, strict=True)
                    ]
                else:
                    losses[asset] = [horizon.copy() for horizon in horizons]
        liquidation = summed_cells([part.liquidation for part in parts])
        adl = merge_queues([part.adl for part in parts], top)
        return Totals(losses, adl, liquidation, merge_top_two([part.cover for part in parts]))


def summed_cells(maps: list[dict[str, FloatArray]]) -> dict[str, FloatArray]:
    """Liquidation map cells added up per symbol over disjoint books."""
    liquidation: dict[str, FloatArray] = {}
    for cells_by_symbol in maps:
        for symbol, cells in cells_by_symbol.items():
            liquidation[symbol] = liquidation.get(symbol, 0.0) + cells
    return liquidation


def settle_assets(market: Market) -> list[str]:
    """Every settle asset of the instrument set and every asset with a fund balance."""
    return sorted(set(market.settle) | set(market.balances))


@dataclass(eq=False)
class EpochShare:
    """The accounts of one process at one epoch."""

    market: Market
    exposure: Exposure
    books: list[BookShare]
    profiles: dict[str, AssetProfile] = field(init=False)
    _paths: PathSet | None = field(init=False, default=None)
    _totals: Totals | None = field(init=False, default=None)
    _cascade: CascadeBook | None = field(init=False, default=None)
    _allocation: AllocationBook | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.profiles = profiles_of(self.exposure, settle_assets(self.market))

    @classmethod
    def of(cls, market: Market, books: list[BookShare]) -> EpochShare:
        return cls(market, concatenate([book.exposure for book in books]), books)

    def stress(self, asset: str, shocks: FloatArray) -> StressShare:
        profile = self.profiles.get(asset)
        if profile is None:
            rows = sum(1 for settle in self.market.settle if settle == asset)
            return StressShare(
                np.zeros(len(shocks)),
                np.zeros(len(shocks), dtype=np.int64),
                np.zeros((2, rows, len(shocks))),
            )
        evaluation = profile.shock(shocks)
        return StressShare(evaluation.deficit, evaluation.negative, evaluation.closing)

    def cascade(self, asset: str, multiplier: FloatArray) -> RoundShare:
        """A cascade round of the asset's accounts at side marks `multiplier` (2 x asset's
        symbols x n; risk/fund/cascade.py)."""
        if self._cascade is None:
            self._cascade = CascadeBook(self.exposure, self.market)
        return self._cascade.round(asset, multiplier)

    def weights(self, asset: str, shocks: FloatArray) -> WeightShare:
        """What the asset's accounts in deficit owe per side and symbol, and the profit of
        the others, at each shock (risk/fund/allocation_book.py)."""
        return self._allocations().weights(asset, shocks)

    def queue(self, asset: str, shocks: FloatArray, need: FloatArray) -> QueuePrefix:
        """The ADL queue entries that may cover `need` (2 x asset's symbols x n contracts)."""
        return self._allocations().queue(asset, shocks, need)

    def deleveraged(self, asset: str, shocks: FloatArray, need: FloatArray) -> FloatArray:
        """What the queues give for `need` when this share holds every account."""
        return self._allocations().deleveraged(asset, shocks, need)

    def _allocations(self) -> AllocationBook:
        if self._allocation is None:
            self._allocation = AllocationBook(self.exposure, self.market)
        return self._allocation

    def totals(self) -> Totals:
        """Monte Carlo drawdowns, ADL heads and map cells (computed once)."""
        if self._totals is None:
            self._totals = self._compute_totals()
        return self._totals

    def _compute_totals(self) -> Totals:
        held = {asset for asset, profile in self.profiles.items() if _holds(profile)}
        paths = self.paths() if held else None
        losses = {}
        for asset in sorted(held):
            assert paths is not None
            inverse = self.exposure.inverse[:, None]
            losses[asset] = [
                self.profiles[asset].evaluate(np.where(inverse, 1.0 / m, m)).deficit
                for m in paths.multipliers
            ]
        liquidation = summed_cells([book.liquidation for book in self.books])
        parameters = self.market.parameters
        adl = merge_queues([book.adl for book in self.books], parameters.adl_top)
        cover = top_two(self.exposure, np.array(parameters.shocks, dtype=np.float64))
        return Totals(losses, adl, liquidation, cover)

    def paths(self) -> PathSet:
        """The epoch's Monte Carlo paths, rows in the engine's symbol order."""
        if self._paths is None:
            self._paths = monte_carlo_paths(self.market)
        return self._paths


def monte_carlo_paths(market: Market) -> PathSet:
    parameters = market.parameters
    horizons = tuple((name, length / parameters.bar_ms) for name, length in parameters.horizons)
    drawn = draw_paths(market.covariance, horizons, parameters.paths, parameters.seed)
    rank = {name: row for row, name in enumerate(market.names)}
    order = np.array([rank[name] for name in market.symbols], dtype=np.intp)
    return PathSet(drawn.horizons, tuple(m[order] for m in drawn.multipliers))


def concatenate(parts: list[Exposure]) -> Exposure:
    """One exposure of disjoint books over the same instruments and marks."""
    first = parts[0]
    if len(parts) == 1:
        return first
    offsets = np.cumsum([0] + [part.accounts for part in parts[:-1]])
    assets = list(first.assets)
    for part in parts[1:]:
        assets += [name for name in part.assets if name not in assets]

    def joined(name: str) -> FloatArray:
        return np.concatenate([getattr(part, name) for part in parts]).astype(np.float64)

    return Exposure(
        symbols=first.symbols,
        assets=tuple(assets),
        symbol_asset=first.symbol_asset,
        inverse=first.inverse,
        contract_size=first.contract_size,
        beta=first.beta,
        mark=first.mark,
        account_asset=np.concatenate([_asset_indices(part, assets) for part in parts]),
        wallet=joined("wallet"),
        account_ref=np.concatenate([part.account_ref for part in parts]),
        owner=_disjoint_owners(parts),
        position_account=np.concatenate(
            [part.position_account + offset for part, offset in zip(parts, offsets, strict=True)]
        ),
        position_symbol=np.concatenate([part.position_symbol for part in parts]),
        size=joined("size"),
        entry=joined("entry"),
        price=joined("price"),
        pnl=joined("pnl"),
        maintenance=joined("maintenance"),
    )


def _disjoint_owners(parts: list[Exposure]) -> NDArray[np.intp]:
    """Owners renumbered apart per part: engines number accounts apart, and the books of one
    process never share an account (inputs are keyed by account)."""
    widths = [int(part.owner.max()) + 1 if len(part.owner) else 0 for part in parts]
    offsets = np.cumsum([0, *widths[:-1]])
    return np.concatenate(
        [part.owner + offset for part, offset in zip(parts, offsets, strict=True)]
    ).astype(np.intp)


def _asset_indices(part: Exposure, assets: list[str]) -> NDArray[np.intp]:
    """`part`'s account assets renumbered to `assets` (engines intern names apart)."""
    renumber = np.array([assets.index(name) for name in part.assets], dtype=np.intp)
    return renumber[part.account_asset] if len(part.account_asset) else part.account_asset


def _holds(profile: AssetProfile) -> bool:
    return bool(profile.singles) or profile.multi.accounts > 0
