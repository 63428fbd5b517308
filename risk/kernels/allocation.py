"""Loss allocation's two passes over one process's accounts (SPEC §8.3, docs/FUND.md "Loss
allocation").

Positions come in margin-account order (account a holds rows start[a]:start[a + 1]), each with
its row among the asset's symbols, its side (0 long, 1 short), |size| in contracts, and the
affine form of its uPnL in g = m (linear) or 1/m (inverse) of risk/fund/exposure.py:

    uPnL_j = c_j * g + k_j        notional_j = |c_j| * g        E_a = wallet_a + sum_j uPnL_j

At one shock (g per row):
- an account in deficit (E_a < 0) owes D_a = -E_a, split over its positions by their losses
  l_j = max(0, -uPnL_j): position j carries D_a * l_j / sum l (by notional when no position
  loses: the wallet is what is negative);
- an account with E_a > 0 holds profit sum_j max(0, uPnL_j) that a haircut can take;
- a profitable position (uPnL_j > 0) of such an account ranks in its (side, symbol) ADL queue by
  score_j = (uPnL_j / entry notional_j) * (notional_j / E_a).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

Positions = tuple[
    NDArray[np.intp],  # row among the asset's symbols
    NDArray[np.intp],  # side: 0 long, 1 short
    NDArray[np.float64],  # slope c
    NDArray[np.float64],  # constant k
    NDArray[np.float64],  # contracts |size|
    NDArray[np.float64],  # entry notional |s| * cs * EP (linear) or |s| * cs / EP (inverse)
]


@njit(cache=True, nogil=True)
def attributed_losses(
    wallet: NDArray[np.float64],
    several: tuple[NDArray[np.intp], NDArray[np.intp]],
    positions: Positions,
    g: NDArray[np.float64],
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """At g (rows x n): 2 x rows x n deficits carried per side and symbol, and contracts of
    the accounts in deficit; n positive uPnL of the accounts with positive equity; 3 x 2 x
    rows x n entries, contracts and notional of the ADL queues (risk/fund/allocation_book.py's
    `WeightShare`), of the accounts `several` = (accounts, where each one's positions start);
    the one-position accounts go through risk/kernels/allocation_singles.py instead."""
    row, side, slope, constant, contracts = positions[:5]
    rows, scenarios = g.shape
    loss = np.zeros((2, rows, scenarios))
    bankrupt = np.zeros((2, rows, scenarios))
    profit = np.zeros(scenarios)
    queued = np.zeros((3, 2, rows, scenarios))
    accounts, start = several
    for account in accounts:
        first, last = start[account], start[account + 1]
        for column in range(scenarios):
            equity, losing, gaining, notional = wallet[account], 0.0, 0.0, 0.0
            for j in range(first, last):
                pnl = slope[j] * g[row[j], column] + constant[j]
                equity += pnl
                losing += max(0.0, -pnl)
                gaining += max(0.0, pnl)
                notional += abs(slope[j]) * g[row[j], column]
            if equity > 0.0:
                profit[column] += gaining
                for j in range(first, last):
                    value = slope[j] * g[row[j], column]
                    if value + constant[j] > 0.0:
                        queued[0, side[j], row[j], column] += 1.0
                        queued[1, side[j], row[j], column] += contracts[j]
                        queued[2, side[j], row[j], column] += abs(value)
            elif equity < 0.0:
                for j in range(first, last):
                    value = slope[j] * g[row[j], column]
                    share = (
                        max(0.0, -(value + constant[j])) / losing
                        if losing > 0.0
                        else abs(value) / notional
                    )
                    loss[side[j], row[j], column] += -equity * share
                    bankrupt[side[j], row[j], column] += contracts[j]
    return loss, bankrupt, profit, queued


@njit(cache=True, nogil=True)
def queue_heads(
    wallet: NDArray[np.float64],
    several: tuple[NDArray[np.intp], NDArray[np.intp]],
    positions: Positions,
    celled: tuple[Positions, NDArray[np.intp], NDArray[np.intp], FloatArray],
    g: NDArray[np.float64],
    need: NDArray[np.float64],
) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.intp]]:
    """At one shock (g per row, `need` 2 x rows contracts to deleverage per side and symbol):
    (score, contracts, notional) of the queue entries of the cells (side * rows + row) with
    a need, grouped by cell, and where each cell's entries start (cells + 1 offsets).

    `several` is (the accounts of two or more positions, where each account's positions
    start); `celled` is the positions again in cell order, where each cell starts, the
    account of each, and the wallet of a one-position account (NaN for the others: their
    equity is summed first)."""
    row, _, slope, constant = positions[:4]
    accounts, start = several
    rows = g.shape[0]
    flat_need = need.reshape(2 * rows)
    equity = wallet.copy()
    for account in accounts:
        for j in range(start[account], start[account + 1]):
            equity[account] += slope[j] * g[row[j], 0] + constant[j]
    bounds = celled[1]
    room = 0
    for cell in range(2 * rows):
        if flat_need[cell] > 0.0:
            room += bounds[cell + 1] - bounds[cell]
    scores, sizes, notional = np.empty(room), np.empty(room), np.empty(room)
    offsets = np.zeros(2 * rows + 1, dtype=np.intp)
    filled = 0
    for cell in range(2 * rows):
        if flat_need[cell] > 0.0:
            price = g[cell % rows, 0]
            filled = _cell_entries(celled, equity, price, cell, (scores, sizes, notional), filled)
        offsets[cell + 1] = filled
    return scores[:filled], sizes[:filled], notional[:filled], offsets


@njit(cache=True, nogil=True)
def _cell_entries(
    celled: tuple[Positions, NDArray[np.intp], NDArray[np.intp], FloatArray],
    equity: FloatArray,
    price: float,
    cell: int,
    out: tuple[FloatArray, FloatArray, FloatArray],
    filled: int,
) -> int:
    """Append the cell's profitable positions of accounts with positive equity to `out`."""
    by_cell, bounds, account_of, alone = celled
    _, _, slope, constant, contracts, entry_notional = by_cell
    for j in range(bounds[cell], bounds[cell + 1]):
        value = slope[j] * price
        pnl = value + constant[j]
        if pnl <= 0.0:
            continue
        held = alone[j] + pnl if alone[j] == alone[j] else equity[account_of[j]]
        if held > 0.0:
            out[0][filled] = (pnl / entry_notional[j]) * (abs(value) / held)
            out[1][filled], out[2][filled] = contracts[j], abs(value)
            filled += 1
    return filled
