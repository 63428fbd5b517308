"""The reconciliation sweep's compiled walk: running totals against a fresh recompute.

For a tracked margin account a, with every position valued afresh at its symbol's mark (its
entry price without one; `value_row`, the kernels' copy of `risk.valuation`):

    F_E(a) = wallet + sum_rows pnl_fresh         R_E(a) = equity + sum_banded (pnl_fresh - pnl)
    F_M(a) = sum_rows mm_fresh                   R_M(a) = maintenance + sum_banded (mm_fresh - mm)

A banded row (band_low < band_high) is cached at an older mark by design, so the running
totals are compared as `Engine.current_totals` reads them (R), not raw. The account drifts when
|R - F| > tolerance * scale in either total (or either is NaN), with

    scale = |wallet| + sum_rows (|pnl_fresh| + |mm_fresh|)

(|equity| may be near 0 on the bankruptcy line, so it is no scale). Sums run in list order:
their rounding (~1e-16 of the scale) is far below any tolerance the sweep is run with.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from risk.kernels.memory import ROWS, float32s, float64s, margin_columns, position_columns
from risk.kernels.updates import Market, value_row

Found = NDArray[np.float64]  # rows of (margin account, dE, dM, scale)


@njit(cache=True, nogil=True)
def sweep_accounts(
    start: int,
    budget: int,
    book: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]],
    market: Market,
    tolerance: float,
    found: Found,
) -> tuple[int, int, int, int]:
    """Walk margin account slots from `start` until `budget` units of work are done (a
    position valued, or an account that holds none) or the book ends; write each drifted
    account into `found` (at most `budget` accounts are checked, so a budget's rows fit).

    Returns (next slot, 0 once the book is done; accounts checked; positions valued; drifted).
    """
    addresses, counts, blocks = book
    margin = margin_columns(addresses, counts[0])
    positions = position_columns(addresses, counts[1])
    holder, wallet, equity, maintenance, head = (
        margin[0],
        margin[5],
        margin[6],
        margin[7],
        margin[10],
    )
    symbols, rows, following = positions[0], positions[1], positions[5]
    total, slot, valued, accounts, drifted, work = counts[0], start, 0, 0, 0, 0
    while slot < total and work < budget:
        if holder[slot] >= 0:
            running_equity, running_mm = equity[slot], maintenance[slot]
            fresh_equity, fresh_mm, scale = wallet[slot], 0.0, abs(wallet[slot])
            pid, before = head[slot], valued
            while pid != -1:
                code, at = symbols[pid], rows[pid]
                columns = blocks[code]
                count = columns[ROWS]
                size, entry = float64s(columns[0], count)[at], float64s(columns[1], count)[at]
                price = market[2][code]
                pnl, mm, _ = value_row(
                    market[0], code, size, entry, entry if np.isnan(price) else price
                )
                if float32s(columns[5], count)[at] < float32s(columns[6], count)[at]:
                    running_equity += pnl - float64s(columns[2], count)[at]
                    running_mm += mm - float64s(columns[3], count)[at]
                fresh_equity += pnl
                fresh_mm += mm
                scale += abs(pnl) + abs(mm)
                valued += 1
                pid = following[pid]
            work += max(valued - before, 1)
            equity_drift, mm_drift = running_equity - fresh_equity, running_mm - fresh_mm
            limit = tolerance * scale
            if not (abs(equity_drift) <= limit and abs(mm_drift) <= limit):
                if drifted < len(found):
                    found[drifted, 0], found[drifted, 3] = slot, scale
                    found[drifted, 1], found[drifted, 2] = equity_drift, mm_drift
                drifted += 1
            accounts += 1
        slot += 1
    return (slot if slot < total else 0), accounts, valued, drifted
