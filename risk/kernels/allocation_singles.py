"""Loss allocation's weights of the one-position accounts, by binary search (SPEC §8.3,
risk/kernels/allocation.py).

A one-position account of wallet w holds one position of uPnL c * g + k (g = m linear, 1/m
inverse), so its equity is w + k + c * g. In one (side, symbol) cell every c has the same sign
(the side and the contract kind fix it). With c > 0 (the mirror for c < 0):

- it is in deficit when g < theta_d = -(w + k) / c, and owes -(w + k) - c * g, all of it carried
  by its one position;
- it queues for ADL (equity > 0 and uPnL > 0) when g > theta_q = max(-k / c, theta_d), with
  its contracts, notional |c| * g and profit c * g + k.

Sorted by each threshold with prefix sums, a cell answers any g with two binary searches,
whatever the number of accounts.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
# bounds (cells + 1); rising (c > 0) per cell; theta_d sorted with prefix sums of w + k, c,
# contracts; theta_q sorted with prefix sums of count, contracts, |c|, c, k (each prefix array
# one longer per cell than its thresholds: cell i's sums start at bounds[i] + i)
SingleLadders = tuple[
    NDArray[np.intp], NDArray[np.bool_], FloatArray, FloatArray, FloatArray, FloatArray
]


@njit(cache=True, nogil=True)
def single_weights(
    ladders: SingleLadders,
    g: FloatArray,
    totals: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
) -> None:
    """Add the one-position accounts at g (rows x n) to `totals` (loss, bankrupt, profit,
    queued of risk/kernels/allocation.py `attributed_losses`)."""
    bounds, rising, debt_theta, debt_sums, queue_theta, queue_sums = ladders
    loss, bankrupt, profit, queued = totals
    rows, scenarios = g.shape
    for cell in range(len(bounds) - 1):
        first, last = int(bounds[cell]), int(bounds[cell + 1])
        if last == first:
            continue
        side, row = divmod(cell, rows)
        debt, queue = debt_theta[first:last], queue_theta[first:last]
        for column in range(scenarios):
            price = g[row, column]
            if rising[cell]:
                low, high = np.searchsorted(debt, price, side="right"), last - first
            else:
                low, high = 0, np.searchsorted(debt, price, side="left")
            base = first + cell
            owed = debt_sums[:, base + high] - debt_sums[:, base + low]
            loss[side, row, column] += -(owed[0] + owed[1] * price)
            bankrupt[side, row, column] += owed[2]
            if rising[cell]:
                low, high = 0, np.searchsorted(queue, price, side="left")
            else:
                low, high = np.searchsorted(queue, price, side="right"), last - first
            sums = queue_sums[:, base + high] - queue_sums[:, base + low]
            queued[0, side, row, column] += sums[0]
            queued[1, side, row, column] += sums[1]
            queued[2, side, row, column] += sums[2] * price
            profit[column] += sums[3] * price + sums[4]


def single_ladders(
    cell: NDArray[np.intp],
    cells: int,
    money: tuple[FloatArray, FloatArray, FloatArray],
    contracts: FloatArray,
) -> SingleLadders:
    """The ladders of the one-position accounts: each one's cell, (wallet w, slope c,
    constant k) and contracts."""
    wallet, slope, constant = money
    with np.errstate(divide="ignore", invalid="ignore"):
        debt = -(wallet + constant) / slope
        even = -constant / slope
    queue = np.where(slope > 0.0, np.maximum(even, debt), np.minimum(even, debt))
    order = np.argsort(cell, kind="stable")
    bounds = np.searchsorted(cell[order], np.arange(cells + 1)).astype(np.intp)
    rising = np.zeros(cells, dtype=np.bool_)
    parts: list[list[FloatArray]] = [[], [], [], []]
    for index in range(cells):
        members = order[bounds[index] : bounds[index + 1]]
        rising[index] = bool(len(members)) and bool(slope[members[0]] > 0.0)
        by_debt = members[np.argsort(debt[members], kind="stable")]
        by_queue = members[np.argsort(queue[members], kind="stable")]
        parts[0].append(debt[by_debt])
        parts[1].append(
            _prefix(
                np.stack((wallet[by_debt] + constant[by_debt], slope[by_debt], contracts[by_debt]))
            )
        )
        parts[2].append(queue[by_queue])
        parts[3].append(_prefix(np.stack((np.ones(len(by_queue)), contracts[by_queue],
            np.abs(slope[by_queue]), slope[by_queue], constant[by_queue]))))  # fmt: skip
    return (
        bounds,
        rising,
        np.concatenate(parts[0]),
        np.concatenate(parts[1], axis=1),
        np.concatenate(parts[2]),
        np.concatenate(parts[3], axis=1),
    )


def _prefix(values: FloatArray) -> FloatArray:
    return np.concatenate((np.zeros((len(values), 1)), np.cumsum(values, axis=1)), axis=1)
