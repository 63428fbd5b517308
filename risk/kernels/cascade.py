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

from risk.fund.parameters import MARK_FLOOR

Legs = tuple[
    NDArray[np.intp],  # row among the asset's symbols
    NDArray[np.float64],  # quantity: size * contract size (signed)
    NDArray[np.float64],  # valuation price P
    NDArray[np.float64],  # entry price EP
    NDArray[np.bool_],  # inverse
    NDArray[np.intp],  # the first tier of its symbol's table
]
Tiers = tuple[
    NDArray[np.float64],  # caps, the last tier of each symbol's +inf
    NDArray[np.float64],  # mmr
    NDArray[np.float64],  # cum
]


@njit(cache=True, nogil=True)
def liquidated_at(
    wallet: NDArray[np.float64],
    start: NDArray[np.intp],
    legs: Legs,
    contracts: NDArray[np.float64],
    tiers: Tiers,
    multiplier: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """(deficit sum, accounts at or past maintenance, 2 x rows x n contracts they hold) at the
    side marks `multiplier` (2 x rows x n: long side, short side). Account a's positions are
    the rows start[a]:start[a + 1] of `legs` and of `contracts` (|size|), in account order.
    An account that is above maintenance even at the worst of the marks (every long at the
    lowest long-side mark, every short at the highest short-side one: each position's uPnL
    minus maintenance is monotone in its price, as every mmr < 1) is at every scenario, and is
    skipped after that one pass; one-position accounts go through
    risk/kernels/cascade_singles.py instead."""
    scenarios = multiplier.shape[2]
    totals = (
        np.zeros(scenarios),
        np.zeros(scenarios, dtype=np.int64),
        np.zeros((2, multiplier.shape[1], scenarios)),
    )
    equity, maintenance = np.empty(scenarios), np.empty(scenarios)
    low, high = np.empty(1), np.empty(1)  # equity and maintenance at the worst marks
    worst = np.empty((2, multiplier.shape[1], 1))  # the lowest long-side, highest short-side mark
    for row in range(multiplier.shape[1]):
        worst[0, row, 0] = multiplier[0, row].min()
        worst[1, row, 0] = multiplier[1, row].max()
    for account in range(len(wallet)):
        first, last = start[account], start[account + 1]
        low[0], high[0] = wallet[account], 0.0
        for leg in range(first, last):
            _add_money(leg, legs, tiers, worst, low, high)
        if low[0] > high[0]:  # above maintenance even at the worst marks: at every one
            continue
        equity[:] = wallet[account]
        maintenance[:] = 0.0
        for leg in range(first, last):
            _add_money(leg, legs, tiers, multiplier, equity, maintenance)
        for scenario in range(scenarios):
            if equity[scenario] <= maintenance[scenario]:
                _liquidate(first, last, legs, contracts, scenario, equity[scenario], totals)
    return totals


@njit(cache=True, inline="always")
def _add_money(
    leg: int,
    legs: Legs,
    tiers: Tiers,
    multiplier: NDArray[np.float64],
    equity: NDArray[np.float64],
    maintenance: NDArray[np.float64],
) -> None:
    """Add one position's uPnL and tiered maintenance at every scenario's side mark."""
    row, quantity, price, entry, inverse, first_tier = (
        legs[0][leg],
        legs[1][leg],
        legs[2][leg],
        legs[3][leg],
        legs[4][leg],
        legs[5][leg],
    )
    caps, mmrs, cums = tiers
    side, size = (0 if quantity > 0.0 else 1), abs(quantity)
    for scenario in range(len(equity)):
        moved = price * multiplier[side, row, scenario]
        if inverse:
            notional = size / moved
            equity[scenario] += quantity * (1.0 / entry - 1.0 / moved)
        else:
            notional = size * moved
            equity[scenario] += quantity * (moved - entry)
        tier = first_tier
        while notional > caps[tier]:
            tier += 1
        maintenance[scenario] += notional * mmrs[tier] - cums[tier]


@njit(cache=True, inline="always")
def _liquidate(
    first: int,
    last: int,
    legs: Legs,
    contracts: NDArray[np.float64],
    scenario: int,
    equity: float,
    totals: tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]],
) -> None:
    """Count one account at or past maintenance, its deficit and its contracts per side."""
    deficit, liquidated, flows = totals
    liquidated[scenario] += 1
    if equity < 0.0:
        deficit[scenario] -= equity
    for leg in range(first, last):
        side = 0 if legs[1][leg] > 0.0 else 1
        flows[side, legs[0][leg], scenario] += contracts[leg]


@njit(cache=True, nogil=True)
def walked_marks(
    book: tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.float64]],
    marks: NDArray[np.float64],
    base: NDArray[np.float64],
    flows: NDArray[np.float64],
) -> NDArray[np.float64]:
    """2 x rows x n: each side's multiplier after its flow walks the shocked book.

    `book` holds every (row, side) book end to end, best level first: `start` (2 x rows + 1
    bounds, side-major: the bids of row r are levels start[r]:start[r + 1], its asks those of
    rows + r), level prices, and prefix sums of level sizes (one more entry per book, from 0).
    A flow q > 0 fills up to the first level whose prefix reaches q; past the last level p_L
    (a side of depth Q) the price moves on by a = |M - p_L| / Q per contract (a sale floored at
    min(0.001 M, p_L)); a sale's price is at most the mark M, a purchase's at least M. The
    multiplier is base * price / M (the book moves with the shock). No levels or no flow: base.
    """
    start, prices, prefix = book
    sides, rows, scenarios = flows.shape
    moved = np.empty((sides, rows, scenarios))
    for side in range(sides):
        selling = side == 0
        for row in range(rows):
            book_index = side * rows + row
            first, last = start[book_index], start[book_index + 1]
            mark = marks[row]
            for scenario in range(scenarios):
                quantity = flows[side, row, scenario]
                moved[side, row, scenario] = base[row, scenario]
                if last == first or quantity <= 0.0 or not np.isfinite(mark):
                    continue
                levels = prefix[first + book_index : last + book_index + 1]
                price = _last_level(prices[first:last], levels, quantity, mark, selling)
                moved[side, row, scenario] = base[row, scenario] * (price / mark)
    return moved


@njit(cache=True, inline="always")
def _last_level(
    prices: NDArray[np.float64],
    prefix: NDArray[np.float64],
    quantity: float,
    mark: float,
    selling: bool,
) -> float:
    """The price of the last level `quantity` contracts fill (module `walked_marks`)."""
    levels = len(prices)
    depth = prefix[levels]
    if quantity <= depth:
        price = prices[np.searchsorted(prefix, quantity) - 1]
    else:
        edge = prices[levels - 1]
        rate = max(0.0, (mark - edge) if selling else (edge - mark)) / depth
        if selling:
            price = max(edge - rate * (quantity - depth), min(MARK_FLOOR * mark, edge))
        else:
            price = edge + rate * (quantity - depth)
    return float(min(price, mark) if selling else max(price, mark))
