"""Margin accounts re-evaluated in bulk: canonical totals, levels and record prices (SPEC §5-§7).

For each margin account, with its positions in canonical order (symbol name, then position
side) and each position valued at its symbol's mark (the cached value, or a fresh one where a
mark tick skipped the row):

    equity = wallet + sum uPnL,   MM = sum maintenance margin      (in that order)
    level  = next_level(current, equity, MM)                        (`risk.levels`)

and, for the accounts that need records, per symbol S: E_o = wallet + (sum over symbols of
their uPnL) - uPnL_S and M_o = (sum of their MM) - MM_S, from which `solve_price` gives the
liquidation (c = 1) and the bankruptcy (c = 0) price of each (symbol, reference price). The
sums are plain left-to-right additions: one order, so one result to the last bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from risk.kernels.prices import solve_price

BANKRUPT_LEVEL = 4
DECIDE, CHANGED, EVERY = 0, 1, 2  # which accounts get prices solved

Members = tuple[
    NDArray[np.int32],  # symbol
    NDArray[np.int8],  # side
    NDArray[np.float64],  # size
    NDArray[np.float64],  # entry price
    NDArray[np.float64],  # uPnL (refreshed in place where stale)
    NDArray[np.float64],  # maintenance margin (refreshed in place where stale)
    NDArray[np.bool_],  # stale: valued at an older mark
    NDArray[np.float64],  # mark of the symbol, NaN for none
]
Table = tuple[
    NDArray[np.bool_],  # linear, per symbol
    NDArray[np.float64],  # contract size
    NDArray[np.int32],  # rank of the symbol name
    NDArray[np.int32],  # start of the symbol's tiers in the three columns below
    NDArray[np.int32],  # number of caps
    NDArray[np.float64],  # caps (one slot more per symbol, unused)
    NDArray[np.float64],  # maintenance margin rates
    NDArray[np.float64],  # cumulative amounts
]


@njit(cache=True)
def gather_members(
    accounts: NDArray[np.int64], head: NDArray[np.int32], following: NDArray[np.int32]
) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
    """(offsets, pids): the open positions of accounts[j] are pids[offsets[j]:offsets[j+1]],
    in list order (`head` per margin account, `following` per pid, -1 ends a list)."""
    offsets = np.empty(len(accounts) + 1, dtype=np.int64)
    offsets[0] = 0
    pids = np.empty(16, dtype=np.int32)
    count = 0
    for index in range(len(accounts)):
        pid = head[accounts[index]]
        while pid != -1:
            if count == len(pids):
                grown = np.empty(2 * len(pids), dtype=np.int32)
                grown[:count] = pids
                pids = grown
            pids[count] = pid
            count += 1
            pid = following[pid]
        offsets[index + 1] = count
    return offsets, pids[:count]


@njit(cache=True)
def evaluate_accounts(
    offsets: NDArray[np.int64],
    members: Members,
    table: Table,
    accounts: tuple[NDArray[np.float64], NDArray[np.int8]],
    thresholds: tuple[NDArray[np.float64], float],
    solve: int,
) -> tuple[NDArray[np.float64], ...]:
    """Per account j (wallet and current level in `accounts`): equity, MM and the next level;
    per member in canonical order: its index, notional, liquidation and bankruptcy price.

    Returns (equity, maintenance, level, order, notional, liquidation, bankruptcy) as float64
    columns (level and order hold integers). Prices are solved for no account (DECIDE), the
    accounts whose level changes (CHANGED) or all (EVERY); unsolved prices are NaN.
    """
    wallet, current = accounts
    count, member_count = len(offsets) - 1, offsets[-1]
    equity, maintenance, level = np.empty(count), np.empty(count), np.empty(count)
    order, notional = np.empty(member_count), np.full(member_count, np.nan)
    liquidation, bankruptcy = np.full(member_count, np.nan), np.full(member_count, np.nan)
    for account in range(count):
        start, end = offsets[account], offsets[account + 1]
        ranked = canonical_order(start, end, members, table)
        money = refresh_and_sum(ranked, members, table, wallet[account])
        equity[account], maintenance[account] = money
        if end == start:
            level[account] = 0
        else:
            level[account] = next_level(current[account], money[0], money[1], thresholds)
        for index in range(end - start):
            order[start + index] = ranked[index]
        changed = level[account] != current[account]
        if end > start and (solve == EVERY or (solve == CHANGED and changed)):
            prices = (notional, liquidation, bankruptcy)
            _solve_account(ranked, members, table, wallet[account], prices)
    return equity, maintenance, level, order, notional, liquidation, bankruptcy


@njit(cache=True)
def canonical_order(start: int, end: int, members: Members, table: Table) -> NDArray[np.int64]:
    """The member indices start..end-1 ordered by (rank of the symbol name, side)."""
    symbol, side, rank = members[0], members[1], table[2]
    ranked = np.arange(start, end)
    for index in range(1, len(ranked)):
        member = ranked[index]
        key = (rank[symbol[member]], side[member])
        slot = index
        while slot > 0:
            before = ranked[slot - 1]
            if (rank[symbol[before]], side[before]) <= key:
                break
            ranked[slot] = before
            slot -= 1
        ranked[slot] = member
    return ranked


@njit(cache=True)
def refresh_and_sum(
    ranked: NDArray[np.int64], members: Members, table: Table, wallet: float
) -> tuple[float, float]:
    """Value the stale members at their mark (in place), then (wallet + sum uPnL, sum MM)."""
    symbol, size, entry, pnl, maintenance, stale, mark = (
        members[0], members[2], members[3], members[4], members[5], members[6], members[7]
    )  # fmt: skip
    linear, contract_size, start, caps, mmrs, cums = (
        table[0], table[1], table[3], table[5], table[6], table[7]
    )  # fmt: skip
    equity, total = wallet, 0.0
    for member in ranked:
        if stale[member] and not np.isnan(mark[member]):
            code = symbol[member]
            price = mark[member]
            quantity = abs(size[member]) * contract_size[code]
            if linear[code]:
                value = quantity * price
                pnl[member] = (price - entry[member]) * size[member] * contract_size[code]
            else:
                value = quantity / price
                pnl[member] = (
                    (1.0 / entry[member] - 1.0 / price) * size[member] * contract_size[code]
                )
            k = start[code] + table_tier(caps, start[code], table[4][code], value)
            maintenance[member] = value * mmrs[k] - cums[k]
        equity += pnl[member]
        total += maintenance[member]
    return equity, total


@njit(cache=True, inline="always")
def table_tier(caps: NDArray[np.float64], first: int, count: int, notional: float) -> int:
    """The tier k of `notional` among one symbol's `count` caps at caps[first:] of the
    instrument table: cap_{k-1} < notional <= cap_k (k = count above the last cap)."""
    return int(np.searchsorted(caps[first : first + count], notional))


@njit(cache=True, inline="always")
def next_level(
    current: int, equity: float, maintenance: float, thresholds: tuple[NDArray[np.float64], float]
) -> int:
    """`risk.levels.Thresholds.next_level`, with its comparisons."""
    if equity <= 0.0:
        return BANKRUPT_LEVEL
    bounds, hysteresis = thresholds
    ratio = maintenance / equity
    raw = _raw(ratio, bounds)
    if raw > current:
        return raw
    lower = _raw(ratio + hysteresis, bounds)
    return lower if lower < current else current


@njit(cache=True, inline="always")
def _raw(ratio: float, bounds: NDArray[np.float64]) -> int:
    """bisect_right(bounds, ratio): NaN counts past every bound, as in `bisect`."""
    index = 0
    while index < len(bounds) and not ratio < bounds[index]:
        index += 1
    return index


@njit(cache=True)
def _solve_account(
    ranked: NDArray[np.int64],
    members: Members,
    table: Table,
    wallet: float,
    prices: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
) -> None:
    """Notional, liquidation and bankruptcy price of each member (SPEC §6, §7)."""
    symbol, size, entry, pnl, maintenance, mark = (
        members[0], members[2], members[3], members[4], members[5], members[7]
    )  # fmt: skip
    notional, liquidation, bankruptcy = prices
    pnl_total, maintenance_total = 0.0, 0.0
    groups = _symbol_runs(ranked, symbol)
    sums = np.zeros((len(groups) - 1, 2))
    for group in range(len(groups) - 1):
        for index in range(groups[group], groups[group + 1]):
            sums[group, 0] += pnl[ranked[index]]
            sums[group, 1] += maintenance[ranked[index]]
        pnl_total += sums[group, 0]
        maintenance_total += sums[group, 1]
    equity = wallet + pnl_total
    for group in range(len(groups) - 1):
        run = ranked[groups[group] : groups[group + 1]]
        code = symbol[run[0]]
        linear, contract_size = table[0][code], table[1][code]
        first = table[3][code]
        caps_end = first + table[4][code]
        tiers = (
            table[5][first:caps_end],
            table[6][first : caps_end + 1],
            table[7][first : caps_end + 1],
        )
        legs = (size[run], entry[run])
        other = (equity - sums[group, 0], maintenance_total - sums[group, 1])
        for index in range(len(run)):
            member = run[index]
            reference = entry[member] if np.isnan(mark[member]) else mark[member]
            quantity = abs(size[member]) * contract_size
            notional[member] = quantity * reference if linear else quantity / reference
            solved = _solved_before(run, index, entry, mark)
            if solved >= 0:
                liquidation[member], bankruptcy[member] = liquidation[solved], bankruptcy[solved]
                continue
            liquidation[member] = solve_price(
                linear, contract_size, tiers, legs, other, 1.0, reference
            )
            bankruptcy[member] = solve_price(
                linear, contract_size, tiers, legs, other, 0.0, reference
            )


@njit(cache=True)
def _symbol_runs(ranked: NDArray[np.int64], symbol: NDArray[np.int32]) -> NDArray[np.int64]:
    """Boundaries of the runs of one symbol in `ranked` (0, ..., len(ranked))."""
    bounds = [0]
    for index in range(1, len(ranked)):
        if symbol[ranked[index]] != symbol[ranked[index - 1]]:
            bounds.append(index)
    bounds.append(len(ranked))
    return np.array(bounds, dtype=np.int64)


@njit(cache=True)
def _solved_before(
    run: NDArray[np.int64], index: int, entry: NDArray[np.float64], mark: NDArray[np.float64]
) -> int:
    """An earlier member of the run with the same reference price (its prices are the same
    problem), or -1. With a mark every member shares it; without one the entry is the
    reference."""
    if index == 0:
        return -1
    if not np.isnan(mark[run[0]]):
        return int(run[0])
    for before in range(index):
        if entry[run[before]] == entry[run[index]]:
            return int(run[before])
    return -1
