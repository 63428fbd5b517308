"""Cascade rounds of the one-position margin accounts (most of a book), by binary search.

A one-position account (wallet W, q = size * contract size, valuation price P, entry EP) is at
or past maintenance at side mark m exactly when m is past its threshold t (`threshold`): a long
for m <= t, a short for m >= t. Its equity is K + C * g, g = m (linear: K = W - q EP, C = q P)
or 1/m (inverse: K = W + q / EP, C = -q / P), negative exactly when m is past z: a long (equity
rising with m) for m < z, a short for m > z, with

    linear   z = (q EP - W) / (q P)          inverse   z = q / (P K)

(an inverse long with K <= 0 owes at any mark, z = +inf; an inverse short with K >= 0 at none,
z = +inf).

Each (side, symbol) group is sorted twice, by t with prefix sums of contracts and by z with
prefix sums of K and C, so a scenario costs two binary searches per group, not one pass per
account: count and contracts of the accounts past t, and their deficits -(sum K + g sum C)
over the accounts past z (every account with negative equity is past maintenance).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from risk.kernels.cascade import Legs, Tiers

Ladders = tuple[
    NDArray[np.intp],  # group bounds (2 x rows + 1): long side of each row, then short side
    NDArray[np.float64],  # thresholds t, ascending within each group
    NDArray[np.float64],  # prefix sums of contracts in t order (one more entry per group)
    NDArray[np.float64],  # zeros z, ascending within each group
    NDArray[np.float64],  # prefix sums of K in z order (one more entry per group)
    NDArray[np.float64],  # prefix sums of C in z order (one more entry per group)
    NDArray[np.bool_],  # inverse, per row
]


@njit(cache=True, inline="always")
def _threshold(wallet: float, leg: int, legs: Legs, tiers: Tiers) -> float:
    """The multiplier m of the price P at which a one-position account reaches its maintenance
    margin: a long is at or past it for m <= threshold, a short for m >= threshold.

    With MM(N) = max_k (N * mmr_k - cum_k) (risk/instruments.py), equity <= MM exactly when
    some tier k has equity - (N * mmr_k - cum_k) <= 0, each linear in P' = P * m (linear
    contracts; q = size * contract size) or in y = 1 / P' (inverse):

        linear long    P' <= (q*EP - W - cum_k) / (q (1 - mmr_k))        largest over k
        linear short   P' >= (W - q*EP + cum_k) / (|q| (1 + mmr_k))      smallest over k
        inverse long   y  >= (W + q/EP + cum_k) / (q (1 + mmr_k))        smallest over k
        inverse short  y  <= -(W + q/EP + cum_k) / (|q| (1 - mmr_k))     largest over k
    """
    quantity, price, entry = legs[1][leg], legs[2][leg], legs[3][leg]
    caps, mmrs, cums = tiers
    size, long = abs(quantity), quantity > 0.0
    best = -np.inf if long != legs[4][leg] else np.inf  # largest bound: linear long, inv. short
    tier = legs[5][leg]
    while True:
        mmr, cum = mmrs[tier], cums[tier]
        if not legs[4][leg]:
            if long:
                best = max(best, (quantity * entry - wallet - cum) / (size * (1.0 - mmr)))
            else:
                best = min(best, (wallet - quantity * entry + cum) / (size * (1.0 + mmr)))
        elif long:
            best = min(best, (wallet + quantity / entry + cum) / (size * (1.0 + mmr)))
        else:
            best = max(best, -(wallet + quantity / entry + cum) / (size * (1.0 - mmr)))
        if caps[tier] == np.inf:
            break
        tier += 1
    if not legs[4][leg]:
        return float(best / price)
    # m <= 1 / (y* P) for a long, m >= 1 / (y* P) for a short; y* <= 0: a long is past its
    # maintenance at any price, a short at none (+inf on either side)
    return np.inf if best <= 0.0 else float(1.0 / (best * price))


@njit(cache=True, nogil=True)
def thresholds(wallet: NDArray[np.float64], legs: Legs, tiers: Tiers) -> NDArray[np.float64]:
    """`_threshold` of every one-position account (account i holds position i of `legs`)."""
    found = np.empty(len(wallet))
    for account in range(len(wallet)):
        found[account] = _threshold(wallet[account], account, legs, tiers)
    return found


@njit(cache=True, nogil=True)
def ladder_rounds(
    ladders: Ladders,
    multiplier: NDArray[np.float64],
    totals: tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]],
) -> None:
    """Add the one-position accounts' round at side marks `multiplier` (2 x rows x n) into
    `totals` (deficit sum, accounts at or past maintenance, 2 x rows x n contracts)."""
    bounds, threshold, contracts, zero, constant, slope, inverse = ladders
    deficit, liquidated, flows = totals
    rows = multiplier.shape[1]
    for group in range(2 * rows):
        first, last = bounds[group], bounds[group + 1]
        if last == first:
            continue
        side, row = group // rows, group % rows
        count = last - first
        marks, zeros = threshold[first:last], zero[first:last]
        held = contracts[first + group : last + group + 1]
        owed_k, owed_c = (
            constant[first + group : last + group + 1],
            slope[first + group : last + group + 1],
        )
        for scenario in range(multiplier.shape[2]):
            move = multiplier[side, row, scenario]
            factor = 1.0 / move if inverse[row] else move
            if side == 0:  # a long: past maintenance for m <= t, in deficit for m < z
                past = np.searchsorted(marks, move, side="left")
                owing = np.searchsorted(zeros, move, side="right")
                liquidated[scenario] += count - past
                flows[0, row, scenario] += held[count] - held[past]
                deficit[scenario] -= (owed_k[count] - owed_k[owing]) + factor * (
                    owed_c[count] - owed_c[owing]
                )
            else:  # a short: past maintenance for m >= t, in deficit for m > z
                past = np.searchsorted(marks, move, side="right")
                owing = np.searchsorted(zeros, move, side="left")
                liquidated[scenario] += past
                flows[1, row, scenario] += held[past]
                deficit[scenario] -= owed_k[owing] + factor * owed_c[owing]
