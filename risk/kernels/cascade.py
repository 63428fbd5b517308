"""One cascade round of one process's accounts (SPEC §8.2, docs/FUND.md "Cascade stress").

At scenario s each symbol has two marks, multipliers of the position's valuation price P: the
long side's m_long (where liquidated longs were sold, the bids) and the short side's m_short
(where liquidated shorts were bought back, the asks). A long position is valued at
P' = P * m_long, a short one at P' = P * m_short. Position j (size s_j contracts, contract size
cs, entry EP) at P' has

    linear    notional N_j = |s_j| * cs * P'     uPnL_j = s_j * cs * (P' - EP)
    inverse   notional N_j = |s_j| * cs / P'     uPnL_j = s_j * cs * (1/EP - 1/P')

and maintenance MM_j = N_j * mmr_k - cum_k in the tier k of N_j (risk/instruments.py). Margin
account a, equity E_a = wallet_a + sum_j uPnL_j and maintenance MM_a = sum_j MM_j, is at or past
its maintenance margin when E_a <= MM_a (ratio >= 1, or equity <= 0 since MM_a >= 0). The round
counts those accounts, adds up their deficits max(0, -E_a) (an account with E_a < 0 is always
among them) and their contracts per symbol and side: what the fund sells into the bids (long
contracts) and buys from the asks (short contracts).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

Positions = tuple[
    NDArray[np.intp],  # symbol (global)
    NDArray[np.float64],  # size (contracts, signed)
    NDArray[np.float64],  # valuation price P
    NDArray[np.float64],  # entry price EP
]
Symbols = tuple[
    NDArray[np.bool_],  # inverse
    NDArray[np.float64],  # contract size
    NDArray[np.intp],  # row among the asset's symbols, -1 for another asset's
]
Tiers = tuple[
    NDArray[np.intp],  # first tier of each symbol (symbols + 1)
    NDArray[np.float64],  # caps, the last tier of each symbol's +inf
    NDArray[np.float64],  # mmr
    NDArray[np.float64],  # cum
]


@njit(cache=True)
def liquidated_at(
    accounts: NDArray[np.intp],
    wallet: NDArray[np.float64],
    buckets: tuple[NDArray[np.intp], NDArray[np.intp]],
    positions: Positions,
    symbols: Symbols,
    tiers: Tiers,
    multiplier: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """(deficit sum, accounts at or past maintenance, 2 x rows x n contracts they hold) at the
    side marks `multiplier` (2 x rows x n: long side, short side), over `accounts`; `buckets`
    is (start, order): account a's positions are order[start[a]:start[a + 1]]."""
    scenarios = multiplier.shape[2]
    deficit = np.zeros(scenarios)
    liquidated = np.zeros(scenarios, dtype=np.int64)
    flows = np.zeros((2, multiplier.shape[1], scenarios))
    start, order = buckets
    for account in accounts:
        rows = order[start[account] : start[account + 1]]
        for scenario in range(scenarios):
            marks = multiplier[:, :, scenario]
            equity, maintenance = _money(wallet[account], rows, positions, symbols, tiers, marks)
            if equity > maintenance:
                continue
            liquidated[scenario] += 1
            if equity < 0.0:
                deficit[scenario] -= equity
            for row in rows:
                size = positions[1][row]
                side = 0 if size > 0.0 else 1
                flows[side, symbols[2][positions[0][row]], scenario] += abs(size)
    return deficit, liquidated, flows


@njit(cache=True, inline="always")
def _money(
    wallet: float,
    rows: NDArray[np.intp],
    positions: Positions,
    symbols: Symbols,
    tiers: Tiers,
    multiplier: NDArray[np.float64],
) -> tuple[float, float]:
    """(equity, maintenance) of one margin account at side marks `multiplier` (2 x rows)."""
    symbol_of, size_of, price_of, entry_of = positions
    inverse, contract_size, row_of = symbols
    first_tier, caps, mmrs, cums = tiers
    equity, maintenance = wallet, 0.0
    for row in rows:
        symbol, size = symbol_of[row], size_of[row]
        price = price_of[row] * multiplier[0 if size > 0.0 else 1, row_of[symbol]]
        quantity = size * contract_size[symbol]
        if inverse[symbol]:
            notional = abs(quantity) / price
            equity += quantity * (1.0 / entry_of[row] - 1.0 / price)
        else:
            notional = abs(quantity) * price
            equity += quantity * (price - entry_of[row])
        tier = first_tier[symbol]
        while notional > caps[tier]:
            tier += 1
        maintenance += notional * mmrs[tier] - cums[tier]
    return equity, maintenance
