"""One process's accounts arranged for cascade rounds (risk/fund/cascade.py's `RoundSource`).

Per settle asset, on first use: the margin accounts holding two or more positions keep them in
account order for the direct pass of risk/kernels/cascade.py; the one-position accounts (most
of a book) are sorted into per-(side, symbol) ladders by their maintenance threshold and by
their zero-equity mark, answered by binary search (risk/kernels/cascade_singles.py).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

from risk.fund.cascade import RoundShare, asset_rows, joined
from risk.fund.exposure import Exposure, FloatArray, IndexArray, account_order, prefix_sums
from risk.fund.snapshot import Market
from risk.kernels.cascade import Legs, liquidated_at
from risk.kernels.cascade_singles import Ladders, ladder_rounds, thresholds


class _AssetLegs(NamedTuple):
    """One asset's accounts of two or more positions, their positions in account order
    (risk/kernels/cascade.py), and its one-position accounts' ladders."""

    wallet: FloatArray
    start: IndexArray
    legs: Legs
    contracts: FloatArray
    ladders: Ladders  # the one-position accounts


class CascadeBook:
    """One process's accounts arranged for cascade rounds, per settle asset on first use:
    positions gathered in margin-account order with their asset row and tier table."""

    def __init__(self, exposure: Exposure, market: Market) -> None:
        self.exposure = exposure
        self.market = market
        first, caps, mmrs, cums = _flat_tiers(market)
        self.first_tier = first
        self.tiers = (caps, mmrs, cums)
        self.assets: dict[str, _AssetLegs] = {}

    def round(self, asset: str, multiplier: FloatArray) -> RoundShare:
        """The asset's accounts at side marks `multiplier` (2 x asset's symbols x n)."""
        if asset not in self.assets:
            self.assets[asset] = self._gather(asset)
        legs = self.assets[asset]
        marks = np.ascontiguousarray(multiplier)
        totals = liquidated_at(
            legs.wallet, legs.start, legs.legs, legs.contracts, self.tiers, marks
        )
        ladder_rounds(legs.ladders, marks, totals)
        return RoundShare(*totals)

    def _gather(self, asset: str) -> _AssetLegs:
        exposure = self.exposure
        rows = asset_rows(self.market, asset)
        row_of = np.full(len(self.market.symbols), -1, dtype=np.intp)
        row_of[rows] = np.arange(len(rows))
        positions, accounts, first, counts = account_order(exposure, asset)
        alone = counts == 1
        several = np.repeat(~alone, counts)
        wallet = exposure.wallet[accounts]
        single_legs = self._legs(positions[first[alone]], row_of)
        return _AssetLegs(
            wallet=wallet[~alone],
            start=np.concatenate(([0], np.cumsum(counts[~alone]))).astype(np.intp),
            legs=self._legs(positions[several], row_of),
            contracts=np.abs(exposure.size[positions[several]]),
            ladders=_ladders(
                wallet[alone],
                single_legs,
                np.abs(exposure.size[positions[first[alone]]]),
                thresholds(wallet[alone], single_legs, self.tiers),
                len(rows),
            ),
        )

    def _legs(self, positions: IndexArray, row_of: IndexArray) -> Legs:
        exposure = self.exposure
        symbol = exposure.position_symbol[positions]
        return (
            row_of[symbol],
            exposure.size[positions] * exposure.contract_size[symbol],
            exposure.price[positions],
            exposure.entry[positions],
            exposure.inverse[symbol],
            self.first_tier[symbol],
        )


def _ladders(
    wallet: FloatArray, legs: Legs, contracts: FloatArray, threshold: FloatArray, rows: int
) -> Ladders:
    """Per (side, row) group: thresholds sorted with prefix contracts, zero-equity marks z
    sorted with prefix K and C (risk/kernels/cascade_singles.py)."""
    row, quantity, price, entry, inverse = legs[:5]
    constant = np.where(inverse, wallet + quantity / entry, wallet - quantity * entry)
    slope = np.where(inverse, -quantity / price, quantity * price)
    with np.errstate(divide="ignore", invalid="ignore"):
        owes_somewhere = np.where(quantity > 0.0, constant > 0.0, constant < 0.0)
        zero = np.where(
            inverse,
            np.where(owes_somewhere, quantity / (price * constant), np.inf),
            -constant / slope,
        )
    group = np.where(quantity > 0.0, 0, 1) * rows + row
    by_group = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[by_group], np.arange(2 * rows + 1)).astype(np.intp)
    parts: list[list[FloatArray]] = [[], [], [], [], []]
    for lower, upper in itertools.pairwise(bounds.tolist()):
        members = by_group[lower:upper]
        by_threshold = members[np.argsort(threshold[members], kind="stable")]
        by_zero = members[np.argsort(zero[members], kind="stable")]
        parts[0].append(threshold[by_threshold])
        parts[1].append(prefix_sums(contracts[by_threshold]))
        parts[2].append(zero[by_zero])
        parts[3].append(prefix_sums(constant[by_zero]))
        parts[4].append(prefix_sums(slope[by_zero]))
    inverse_row = np.zeros(rows, dtype=np.bool_)
    inverse_row[row] = inverse
    return (bounds, *(joined(part) for part in parts), inverse_row)  # type: ignore[return-value]


def _flat_tiers(market: Market) -> tuple[IndexArray, FloatArray, FloatArray, FloatArray]:
    """(first tier per symbol and one past the last, caps with +inf closing each symbol's
    table, mmrs, cums): every symbol's tier table end to end."""
    first = np.cumsum([0, *(len(table.mmrs) for table in market.tiers)]).astype(np.intp)
    caps = [np.append(table.cap_array, np.inf) for table in market.tiers]
    mmrs = [table.mmr_array for table in market.tiers]
    cums = [table.cum_array for table in market.tiers]
    return first, joined(caps), joined(mmrs), joined(cums)
