"""Bands for margin accounts valued afresh in bulk, one per symbol they hold (docs/ENGINE.md).

`value_jointly` values every member of an account at its symbol's mark and sums the account
in canonical order (E, M, level L; as `risk.kernels.accounts.evaluate_accounts` does), then
each symbol s of the n the account holds gets the band of `risk.kernels.bands.level_band_v`
with

    X_s = sum over the members in s of size*cs (linear) or -size*cs (inverse)
    G_s = sum of mmr_k*q*cs,   tier interval = the intersection of the members' (in v_s)
    share = 1/n

so the bands hold together: while every symbol stays in its band, the level cannot change.
The scale of the margin covers every term of every symbol. A symbol without a mark gives the
account no band at all.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from risk.kernels.accounts import (
    Members,
    Table,
    canonical_order,
    next_level,
    refresh_and_sum,
    table_tier,
)
from risk.kernels.bands import TIER_MARGIN, level_band_v, level_limits, price_band
from risk.kernels.memory import (
    ROWS,
    Columns,
    float32s,
    float64s,
    int16s,
    margin_columns,
    position_columns,
)

Bands = tuple[NDArray[np.int16], NDArray[np.float32], NDArray[np.float32]]


@njit(cache=True)
def value_jointly(
    accounts: NDArray[np.int64],
    book: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]],
    market: tuple[Table, NDArray[np.float64]],
    thresholds: tuple[NDArray[np.float64], float],
) -> NDArray[np.bool_]:
    """Value every member of each account afresh and band the accounts that keep their
    level; True where the level changes (its record is the caller's).

    Per account (`book` = `Engine.book_addresses`, `market` = (instrument table, mark per
    symbol, NaN for none)): its members valued at their marks where a tick skipped them
    (`evaluate_accounts`' `refresh_and_sum`, canonical order), its canonical totals written
    to the account, and on every member's row its value, its tier at its valuation price and
    its band, (inf, -inf) unless the account keeps its level. The level is not written.
    """
    addresses, counts, blocks = book
    margin = margin_columns(addresses, counts[0])
    positions = position_columns(addresses, counts[1])
    table, marks = market
    limits = level_limits(thresholds[0], thresholds[1])
    changed = np.zeros(len(accounts), dtype=np.bool_)
    for index in range(len(accounts)):
        account = accounts[index]
        pids, members = _gather(account, margin, positions, blocks, marks)
        count = len(pids)
        ranked = canonical_order(0, count, members, table)
        money = refresh_and_sum(ranked, members, table, margin[5][account])
        current = margin[8][account]
        level = next_level(current, money[0], money[1], thresholds) if count else 0
        bands = (
            np.zeros(count, dtype=np.int16),
            np.full(count, np.inf, dtype=np.float32),
            np.full(count, -np.inf, dtype=np.float32),
        )
        _member_tiers(ranked, members, table, bands[0])
        if level == current and count:
            _band_account(ranked, members, table, (money, level, limits), bands)
        _write_back(pids, members, bands, positions, blocks)
        margin[6][account], margin[7][account] = money
        changed[index] = level != current
    return changed


@njit(cache=True)
def _gather(
    account: int,
    margin: Columns,
    positions: Columns,
    blocks: NDArray[np.int64],
    marks: NDArray[np.float64],
) -> tuple[NDArray[np.int64], Members]:
    """The account's pids and their `Members` columns, in list order, from the rows."""
    count = margin[9][account]
    pids = np.empty(count, dtype=np.int64)
    symbol, side = np.empty(count, dtype=np.int32), np.empty(count, dtype=np.int8)
    size, entry = np.empty(count), np.empty(count)
    pnl, maintenance = np.empty(count), np.empty(count)
    stale, mark = np.empty(count, dtype=np.bool_), np.empty(count)
    pid, index = margin[10][account], 0
    while pid != -1:
        code, at = positions[0][pid], positions[1][pid]
        columns = blocks[code]
        rows = columns[ROWS]
        pids[index], symbol[index], side[index] = pid, code, positions[2][pid]
        size[index] = float64s(columns[0], rows)[at]
        entry[index] = float64s(columns[1], rows)[at]
        pnl[index] = float64s(columns[2], rows)[at]
        maintenance[index] = float64s(columns[3], rows)[at]
        stale[index] = float32s(columns[5], rows)[at] < float32s(columns[6], rows)[at]
        mark[index] = marks[code]
        pid, index = positions[5][pid], index + 1
    return pids, (symbol, side, size, entry, pnl, maintenance, stale, mark)


@njit(cache=True)
def _write_back(
    pids: NDArray[np.int64],
    members: Members,
    bands: Bands,
    positions: Columns,
    blocks: NDArray[np.int64],
) -> None:
    """Each member's value, tier and band onto its row."""
    tier, low, high = bands
    for index in range(len(pids)):
        pid = pids[index]
        columns = blocks[positions[0][pid]]
        rows, at = columns[ROWS], positions[1][pid]
        float64s(columns[2], rows)[at] = members[4][index]
        float64s(columns[3], rows)[at] = members[5][index]
        int16s(columns[4], rows)[at] = tier[index]
        float32s(columns[5], rows)[at] = low[index]
        float32s(columns[6], rows)[at] = high[index]


@njit(cache=True)
def _band_account(
    ranked: NDArray[np.int64],
    members: Members,
    table: Table,
    state: tuple[tuple[float, float], int, NDArray[np.float64]],
    bands: Bands,
) -> None:
    """The band of each symbol of one account (`state` = ((E, M), its level, the levels'
    limits)), written on the symbol's members; none when a mark is missing."""
    money, level, limits = state
    symbols, scale = _symbols_and_scale(ranked, members, table)
    if symbols == 0:  # a symbol without a mark
        return
    condition = (money, scale, (limits[level, 0], limits[level, 1]), 1.0 / symbols)
    start = 0
    while start < len(ranked):
        end = start + 1
        while end < len(ranked) and members[0][ranked[end]] == members[0][ranked[start]]:
            end += 1
        _band_symbol(ranked[start:end], members, table, level, condition, bands)
        start = end


@njit(cache=True)
def _member_tiers(
    ranked: NDArray[np.int64], members: Members, table: Table, tier: NDArray[np.int16]
) -> None:
    """The tier of each member at its valuation price (its mark, else its entry price)."""
    symbol, size, entry, mark = members[0], members[2], members[3], members[7]
    linear, contract_size, start, counts, caps = table[0], table[1], table[3], table[4], table[5]
    for member in ranked:
        code = symbol[member]
        price = entry[member] if np.isnan(mark[member]) else mark[member]
        quantity = abs(size[member]) * contract_size[code]
        notional = quantity * price if linear[code] else quantity / price
        tier[member] = table_tier(caps, start[code], counts[code], notional)


@njit(cache=True)
def _symbols_and_scale(
    ranked: NDArray[np.int64], members: Members, table: Table
) -> tuple[int, float]:
    """(distinct symbols, sum of q*cs*EP + q*cs*v0 or q*cs/EP + q*cs/P); (0, 0) if a mark is
    missing."""
    symbol, size, entry, mark = members[0], members[2], members[3], members[7]
    linear, contract_size = table[0], table[1]
    symbols, scale = 0, 0.0
    for index in range(len(ranked)):
        member = ranked[index]
        if np.isnan(mark[member]):
            return 0, 0.0
        if index == 0 or symbol[member] != symbol[ranked[index - 1]]:
            symbols += 1
        code = symbol[member]
        quantity = abs(size[member]) * contract_size[code]
        if linear[code]:
            scale += quantity * entry[member] + quantity * mark[member]
        else:
            scale += quantity / entry[member] + quantity / mark[member]
    return symbols, scale


@njit(cache=True)
def _band_symbol(
    group: NDArray[np.int64],
    members: Members,
    table: Table,
    level: int,
    condition: tuple[tuple[float, float], float, tuple[float, float], float],
    bands: Bands,
) -> None:
    """The band of one symbol's members of an account, written on each of them; `condition`
    = ((E, M), scale of the other terms, the level's limits, share)."""
    symbol, size, mark = members[0], members[2], members[7]
    linear, contract_size, start, counts = table[0], table[1], table[3], table[4]
    caps, mmrs = table[5], table[6]
    tier, low, high = bands
    money, scale, limits, share = condition
    code = symbol[group[0]]
    first, tier_count = start[code], counts[code]
    exposure = gradient = 0.0
    lowest, highest = 0.0, np.inf
    for member in group:
        quantity = abs(size[member]) * contract_size[code]
        exposure += size[member] * contract_size[code] * (1.0 if linear[code] else -1.0)
        k = np.int64(tier[member])
        gradient += mmrs[first + k] * quantity
        if k > 0:
            lowest = max(lowest, caps[first + k - 1] / quantity * (1.0 + TIER_MARGIN))
        if k < tier_count:
            highest = min(highest, caps[first + k] / quantity * (1.0 - TIER_MARGIN))
    v0 = mark[group[0]] if linear[code] else 1.0 / mark[group[0]]
    total = scale + abs(money[0]) + money[1]
    v_low, v_high = level_band_v(
        level, money, (exposure, gradient), v0, (lowest, highest), total, limits, share
    )
    band_low, band_high = price_band(linear[code], v_low, v_high)
    for member in group:
        low[member], high[member] = band_low, band_high
