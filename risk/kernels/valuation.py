"""The mark tick as compiled passes over a symbol block (SPEC §4, §5; docs/ENGINE.md).

For each row (position) of the block, with q = |size|, cs = contract size, P = the valuation
price, EP = entry price:

    linear    notional = q*cs*P     uPnL = (P - EP)*size*cs
    inverse   notional = q*cs/P     uPnL = (1/EP - 1/P)*size*cs
    maintenance margin = mmr_k*notional - cum_k,  k = tier of the notional

and the deltas against the cached row values are added to the owning margin account's running
equity and maintenance margin, in row order. The operations are the ones
`risk.valuation.value_position` performs, in the same order and without fast-math, so the
compiled and the scalar path give the same bits.

`revalue_rows` is the full pass (instrument changes, a symbol without a mark, `settle`);
`tick_rows` is a mark tick, which skips the rows whose price band holds the new mark
(`risk.kernels.bands`) and reports the owners whose level changes. Both write the row's
valuation out in their own loop on purpose: one shared per-row helper (inlined, tuple
arguments) made the full pass 7x slower under numba 0.68 (11 ms against 71 ms on 1M rows).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from risk.kernels.bands import TIER_MARGIN, level_band_v, level_limits, price_band

BANKRUPT_LEVEL = 4
# Per touched owner: X, G, the tier interval in v (LOW, HIGH; the price band once solved), the
# sums of q*cs and of q*cs*EP (linear) or q*cs/EP (inverse) for the scale, the rows seen.
EXPOSURE, GRADIENT, LOW, HIGH, QUANTITY, MONEY, ROWS, SUMS = range(8)

AccountColumns = tuple[
    NDArray[np.float64], NDArray[np.float64], NDArray[np.int8], NDArray[np.int32]
]


@njit(cache=True, nogil=True)
def revalue_rows(
    linear: bool,
    contract_size: float,
    price: float,
    columns: tuple[NDArray[np.float64], ...],
    tier: NDArray[np.int16],
    owner: NDArray[np.int32],
    tiers: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    retier: bool,
    totals: tuple[NDArray[np.float64], NDArray[np.float64]],
) -> None:
    """Revalue every row at `price` and move the owners' running totals by the deltas.

    A NaN `price` (the symbol has no mark yet) values each row at its own entry price.
    `columns` = (size, entry, pnl, maintenance), `tiers` = (caps, mmrs, cums), `totals` =
    (equity, maintenance) per margin account.

    `tier` holds each row's previous tier and is updated in place: a row is looked up again
    only when its notional left (cap_{k-1}, cap_k] (`retier` looks every row up).
    """
    size, entry, pnl, maintenance = columns
    caps, mmrs, cums = tiers
    equity, total_maintenance = totals
    tier_count = len(caps)
    at_entry = np.isnan(price)
    for row in range(len(size)):
        quantity = abs(size[row]) * contract_size
        value = entry[row] if at_entry else price
        if linear:
            notional = quantity * value
            row_pnl = (value - entry[row]) * size[row] * contract_size
        else:
            notional = quantity / value
            row_pnl = (1.0 / entry[row] - 1.0 / value) * size[row] * contract_size
        k = np.int64(tier[row])
        if retier or (
            tier_count
            and ((k > 0 and notional <= caps[k - 1]) or (k < tier_count and notional > caps[k]))
        ):
            k = np.searchsorted(caps, notional)
            tier[row] = k
        row_maintenance = mmrs[k] * notional - cums[k]
        account = owner[row]
        equity[account] += row_pnl - pnl[row]
        total_maintenance[account] += row_maintenance - maintenance[row]
        pnl[row] = row_pnl
        maintenance[row] = row_maintenance


@njit(cache=True, nogil=True)
def tick_rows(
    linear: bool,
    contract_size: float,
    price: float,
    columns: tuple[NDArray[np.float64], ...],
    tier: NDArray[np.int16],
    owner: NDArray[np.int32],
    band: tuple[NDArray[np.float32], NDArray[np.float32]],
    tiers: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    accounts: AccountColumns,
    thresholds: tuple[NDArray[np.float64], float],
    slot: NDArray[np.int32],
    scratch: tuple[NDArray[np.int64], NDArray[np.float64]],
) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """A mark tick at `price` (finite) over one symbol block; (changing accounts, joint
    accounts, rows revalued).

    Rows whose band (float32 `band` = (low, high)) holds `price` strictly inside are skipped:
    their owner's level cannot change. Every other row is revalued and its owner's running
    totals move. Of the owners touched whose positions are all in this block, those whose
    level would change are returned ascending and left without a band (their evaluation sets
    the level); every other one gets a new band on each of its rows. The owners touched that
    also hold other symbols are returned ascending as joint accounts, without a band and not
    decided here: their rows elsewhere may be banded, so valued at older marks, and the caller
    values them afresh and bands all their symbols together (`risk.engine.joint`).

    `columns` = (size, entry, pnl, maintenance) of the block, `tiers` = (caps, mmrs, cums),
    `accounts` = (equity, maintenance, level, positions) per margin account, `thresholds` =
    ((t_watch, t_margin_call, t_liquidation), h). `slot` is 0 per margin account on entry and
    on exit; it numbers the owners touched meanwhile. `scratch` = (int64 [2, n], float64
    [n, SUMS]) with n >= rows: working room the caller keeps between ticks, since a fresh
    allocation of that size per tick (pages mapped, faulted in and unmapped) cost more than
    the tick's arithmetic.
    """
    size, entry, pnl, maintenance = columns
    caps, mmrs, cums = tiers
    equity, total_maintenance = accounts[0], accounts[1]
    band_low, band_high = band
    indices, sums = scratch
    touched, revalued = indices[0], indices[1]
    touched_count = revalued_count = 0
    tier_count = len(caps)
    for row in range(len(size)):
        if band_low[row] < price < band_high[row]:
            continue
        revalued[revalued_count] = row
        revalued_count += 1
        quantity = abs(size[row]) * contract_size
        if linear:
            notional = quantity * price
            row_pnl = (price - entry[row]) * size[row] * contract_size
        else:
            notional = quantity / price
            row_pnl = (1.0 / entry[row] - 1.0 / price) * size[row] * contract_size
        k = np.int64(tier[row])
        if tier_count and (
            (k > 0 and notional <= caps[k - 1]) or (k < tier_count and notional > caps[k])
        ):
            k = np.searchsorted(caps, notional)
            tier[row] = k
        row_maintenance = mmrs[k] * notional - cums[k]
        account = owner[row]
        equity[account] += row_pnl - pnl[row]
        total_maintenance[account] += row_maintenance - maintenance[row]
        pnl[row] = row_pnl
        maintenance[row] = row_maintenance
        if not slot[account]:
            touched[touched_count] = account
            touched_count += 1
            slot[account] = touched_count
            _open_sums(sums, touched_count - 1)
        exposure = size[row] * contract_size
        _add_leg(
            sums, slot[account] - 1, (exposure if linear else -exposure, quantity),
            quantity * (entry[row] if linear else 1.0 / entry[row]), int(k), caps, mmrs,
        )  # fmt: skip
    changed, joint = _band_owners(
        touched[:touched_count], sums, linear, price, accounts, thresholds
    )
    for index in range(revalued_count):
        row = revalued[index]
        solved = slot[owner[row]] - 1
        band_low[row] = np.float32(sums[solved, LOW])
        band_high[row] = np.float32(sums[solved, HIGH])
    for index in range(touched_count):
        slot[touched[index]] = 0
    return changed, joint, revalued_count


# The per-row helpers index the sums in place (sums[owner, field]) and take no tuple of
# arrays: a row view, or an array unpacked from a tuple, is reference-counted on every call,
# and that had made the banded tick's per-row cost several times the full pass's.


@njit(cache=True, inline="always")
def _open_sums(sums: NDArray[np.float64], at: int) -> None:
    for field in range(SUMS):
        sums[at, field] = 0.0
    sums[at, HIGH] = np.inf


@njit(cache=True, inline="always")
def _add_leg(
    sums: NDArray[np.float64],
    at: int,
    legs: tuple[float, float],
    money: float,
    k: int,
    caps: NDArray[np.float64],
    mmrs: NDArray[np.float64],
) -> None:
    """Add one leg in tier k to owner `at`'s band sums: `legs` = (X term, q*cs), `money` =
    q*cs*EP (linear) or q*cs/EP (inverse)."""
    exposure, quantity = legs
    sums[at, EXPOSURE] += exposure
    sums[at, GRADIENT] += mmrs[k] * quantity
    if k > 0:
        sums[at, LOW] = max(sums[at, LOW], caps[k - 1] / quantity * (1.0 + TIER_MARGIN))
    if k < len(caps):
        sums[at, HIGH] = min(sums[at, HIGH], caps[k] / quantity * (1.0 - TIER_MARGIN))
    sums[at, QUANTITY] += quantity
    sums[at, MONEY] += money
    sums[at, ROWS] += 1.0


@njit(cache=True)
def _band_owners(
    touched: NDArray[np.int64],
    sums: NDArray[np.float64],
    linear: bool,
    price: float,
    accounts: AccountColumns,
    thresholds: tuple[NDArray[np.float64], float],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(the one-symbol owners whose level changes, the owners of other symbols too), each
    ascending. Every owner's price band is left in its sums (LOW, HIGH): none, (inf, -inf),
    for those two kinds."""
    equity, total_maintenance, level, positions = accounts
    bounds, hysteresis = thresholds
    v0 = price if linear else 1.0 / price
    limits = level_limits(bounds, hysteresis)
    changed = np.empty(len(touched), dtype=np.int64)
    joint = np.empty(len(touched), dtype=np.int64)
    count = joint_count = 0
    for index in range(len(touched)):
        account = touched[index]
        current, money = level[account], (equity[account], total_maintenance[account])
        low, high = 1.0, 0.0
        if sums[index, ROWS] != positions[account]:
            joint[joint_count] = account
            joint_count += 1
        elif _changes(current, money[0], money[1], bounds, hysteresis):
            changed[count] = account
            count += 1
        else:
            scale = abs(money[0]) + money[1] + sums[index, MONEY] + sums[index, QUANTITY] * v0
            low, high = level_band_v(
                current, money, (sums[index, EXPOSURE], sums[index, GRADIENT]), v0,
                (sums[index, LOW], sums[index, HIGH]), scale,
                (limits[current, 0], limits[current, 1]), 1.0,
            )  # fmt: skip
        sums[index, LOW], sums[index, HIGH] = price_band(linear, low, high)
    return np.sort(changed[:count]), np.sort(joint[:joint_count])


@njit(cache=True, nogil=True)
def changing_owners(
    owner: NDArray[np.int32],
    accounts: AccountColumns,
    thresholds: tuple[NDArray[np.float64], float],
    slot: NDArray[np.int32],
) -> NDArray[np.int64]:
    """The distinct owners of these rows whose level would change, ascending (after a full
    `revalue_rows`). `slot` is 0 per margin account on entry and on exit."""
    equity, total_maintenance, level = accounts[0], accounts[1], accounts[2]
    bounds, hysteresis = thresholds
    changed = np.empty(len(owner), dtype=np.int64)
    count = 0
    for row in range(len(owner)):
        account = owner[row]
        if slot[account]:
            continue
        slot[account] = 1
        money = (equity[account], total_maintenance[account])
        if _changes(level[account], money[0], money[1], bounds, hysteresis):
            changed[count] = account
            count += 1
    for row in range(len(owner)):
        slot[owner[row]] = 0
    result = changed[:count]
    result.sort()
    return result


@njit(cache=True, inline="always")
def _changes(
    current: int, equity: float, maintenance: float, bounds: NDArray[np.float64], hysteresis: float
) -> bool:
    """`Thresholds.next_level(current, equity, maintenance) != current`, with its comparisons."""
    if equity <= 0.0:
        return current != BANKRUPT_LEVEL
    if current == BANKRUPT_LEVEL:
        return True
    ratio = maintenance / equity
    if current < len(bounds) and ratio >= bounds[current]:
        return True
    return current > 0 and ratio + hysteresis < bounds[current - 1]
