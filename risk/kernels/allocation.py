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

from risk.kernels.queue_cut import BINS, walk

FloatArray = NDArray[np.float64]

Positions = tuple[
    NDArray[np.intp],  # row among the asset's symbols
    NDArray[np.intp],  # side: 0 long, 1 short
    NDArray[np.float64],  # slope c
    NDArray[np.float64],  # constant k
    NDArray[np.float64],  # contracts |size|
    NDArray[np.float64],  # 1 / entry notional (|s| * cs * EP linear, |s| * cs / EP inverse)
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
    widest = 1
    for account in accounts:
        widest = max(widest, start[account + 1] - start[account])
    values, pnls = np.empty(widest), np.empty(widest)  # one account's positions at a shock
    for account in accounts:
        first, last = start[account], start[account + 1]
        for column in range(scenarios):
            equity, losing, gaining, notional = wallet[account], 0.0, 0.0, 0.0
            for j in range(first, last):
                value = slope[j] * g[row[j], column]
                pnl = value + constant[j]
                values[j - first], pnls[j - first] = value, pnl
                equity += pnl
                losing += max(0.0, -pnl)
                gaining += max(0.0, pnl)
                notional += abs(value)
            if equity > 0.0:
                profit[column] += gaining
                for j in range(first, last):
                    if pnls[j - first] > 0.0:
                        queued[0, side[j], row[j], column] += 1.0
                        queued[1, side[j], row[j], column] += contracts[j]
                        queued[2, side[j], row[j], column] += abs(values[j - first])
            elif equity < 0.0:
                for j in range(first, last):
                    share = (
                        max(0.0, -pnls[j - first]) / losing
                        if losing > 0.0
                        else abs(values[j - first]) / notional
                    )
                    loss[side[j], row[j], column] += -equity * share
                    bankrupt[side[j], row[j], column] += contracts[j]
    return loss, bankrupt, profit, queued


# positions in cell order: slope c, constant k, contracts, 1 / entry notional
CellColumns = tuple[FloatArray, FloatArray, FloatArray, FloatArray]
Celled = tuple[CellColumns, NDArray[np.intp], NDArray[np.intp], FloatArray]


@njit(cache=True, nogil=True)
def several_equity(
    wallet: FloatArray,
    several: tuple[NDArray[np.intp], NDArray[np.intp]],
    positions: Positions,
    g: FloatArray,
    equity: FloatArray,
) -> None:
    """Fill `equity`, (accounts of two or more positions, at least 1) x n: their equity at g
    (rows x n); `several` is (those accounts, where each account's positions start)."""
    row, _, slope, constant = positions[:4]
    accounts, start = several
    for index, account in enumerate(accounts):
        for column in range(g.shape[1]):
            held = wallet[account]
            for j in range(start[account], start[account + 1]):
                held += slope[j] * g[row[j], column] + constant[j]
            equity[index, column] = held


@njit(cache=True, nogil=True)
def queue_heads(
    celled: Celled, equity: FloatArray, g: FloatArray, need: FloatArray, column: int
) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.intp]]:
    """At shock `column` (g rows x n, `need` 2 x rows x n contracts to deleverage per side and
    symbol, `equity` of `several_equity`): (score, contracts, notional) of the queue entries
    of the cells (side * rows + row) with a need, grouped by cell, and where each cell's
    entries start (cells + 1 offsets).

    `celled` is the columns the scores need, in cell order; where each cell starts; each
    position's index among the accounts of several positions (-1 for the others); and the
    wallet of a one-position account (NaN for the others)."""
    rows = g.shape[0]
    bounds = celled[1]
    room = 0
    for cell in range(2 * rows):
        if need[cell // rows, cell % rows, column] > 0.0:
            room += bounds[cell + 1] - bounds[cell]
    out = (np.empty(room), np.empty(room), np.empty(room))
    offsets = np.zeros(2 * rows + 1, dtype=np.intp)
    filled = 0
    for cell in range(2 * rows):
        if need[cell // rows, cell % rows, column] > 0.0:
            filled = _cell_entries(celled, equity, g, (cell, column), out, filled)
        offsets[cell + 1] = filled
    return out[0][:filled], out[1][:filled], out[2][:filled], offsets


@njit(cache=True, nogil=True)
def taken_everywhere(
    celled: Celled, equity: FloatArray, g: FloatArray, need: FloatArray
) -> FloatArray:
    """3 (positions, contracts, notional) x 2 x rows x n: what every queue gives for `need`
    (2 x rows x n) when this process holds every account (risk/kernels/queue_cut.py `walk`).
    Cell by cell, so a cell's positions are read from memory once for all the shocks."""
    bounds = celled[1]
    rows, scenarios = g.shape
    widest = 0
    for cell in range(2 * rows):
        widest = max(widest, bounds[cell + 1] - bounds[cell])
    out = (np.empty(widest), np.empty(widest), np.empty(widest))
    buffers = (np.zeros((3, BINS)), np.empty(widest, dtype=np.intp))
    totals = np.zeros((3, 2, rows, scenarios))
    for cell in range(2 * rows):
        side, row = divmod(cell, rows)
        for column in range(scenarios):
            if need[side, row, column] > 0.0:
                filled = _cell_entries(celled, equity, g, (cell, column), out, 0)
                entries = (out[0][:filled], out[1][:filled], out[2][:filled])
                taken = walk(entries, need[side, row, column], buffers)
                for index in range(3):
                    totals[index, side, row, column] = taken[index]
    return totals


@njit(cache=True, nogil=True)
def _cell_entries(
    celled: Celled,
    equity: FloatArray,
    g: FloatArray,
    where: tuple[int, int],
    out: tuple[FloatArray, FloatArray, FloatArray],
    filled: int,
) -> int:
    """Append the profitable positions of cell `where[0]` in accounts with positive equity
    at shock `where[1]` to `out` from `filled`; returns the new end."""
    by_cell, bounds, several_of, alone = celled
    slope, constant, contracts, inverse_entry = by_cell
    cell, column = where
    price = g[cell % g.shape[0], column]
    for j in range(bounds[cell], bounds[cell + 1]):  # branch-free: write, then count it in
        value = slope[j] * price
        pnl = value + constant[j]
        owner = several_of[j]
        shared = equity[max(owner, 0), column]
        held = alone[j] + pnl if owner < 0 else shared
        out[0][filled] = pnl * inverse_entry[j] * abs(value) / held
        out[1][filled], out[2][filled] = contracts[j], abs(value)
        filled += (pnl > 0.0) & (held > 0.0)
    return filled
