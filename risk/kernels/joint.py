"""Bands for margin accounts valued afresh in bulk, one per symbol they hold (docs/ENGINE.md).

After `risk.kernels.accounts.evaluate_accounts` has valued every member of an account at its
symbol's mark and summed the account (E, M, level L), each symbol s of the n the account
holds gets the band of `risk.kernels.bands.level_band_v` with

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

from risk.kernels.accounts import Members, Table, table_tier
from risk.kernels.bands import TIER_MARGIN, level_band_v, level_limits, price_band

Bands = tuple[NDArray[np.int16], NDArray[np.float32], NDArray[np.float32]]


@njit(cache=True)
def joint_bands(
    offsets: NDArray[np.int64],
    order: NDArray[np.int64],
    members: Members,
    table: Table,
    accounts: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int8]],
    thresholds: tuple[NDArray[np.float64], float],
    banded: NDArray[np.bool_],
) -> Bands:
    """Per member: (tier at its valuation price, band low, band high).

    `offsets` and `order` as `evaluate_accounts` returns them (members of account j in
    canonical order, so each symbol's members adjacent), `accounts` = (equity, maintenance,
    level) per account after the evaluation, `banded` = which accounts get bands; the others'
    members get none, (inf, -inf).
    """
    count = offsets[-1]
    tier = np.zeros(count, dtype=np.int16)
    low = np.full(count, np.inf, dtype=np.float32)
    high = np.full(count, -np.inf, dtype=np.float32)
    limits = level_limits(thresholds[0], thresholds[1])
    for account in range(len(offsets) - 1):
        ranked = order[offsets[account] : offsets[account + 1]]
        _member_tiers(ranked, members, table, tier)
        if not banded[account] or not len(ranked):
            continue
        symbols, scale = _symbols_and_scale(ranked, members, table)
        if symbols == 0:  # a symbol without a mark
            continue
        level = accounts[2][account]
        money = (accounts[0][account], accounts[1][account])
        condition = (money, scale, (limits[level, 0], limits[level, 1]), 1.0 / symbols)
        start = 0
        while start < len(ranked):
            end = start + 1
            while end < len(ranked) and members[0][ranked[end]] == members[0][ranked[start]]:
                end += 1
            _band_symbol(ranked[start:end], members, table, level, condition, (tier, low, high))
            start = end
    return tier, low, high


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
