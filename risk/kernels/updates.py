"""Position and balance events applied in compiled code, in order (SPEC §3-§5, docs/ENGINE.md).

`apply_updates` walks the rows of a columnar batch (`risk.batch`) from `start` and applies
every row it can decide alone, exactly as the per-event path (`risk.engine.positions`) would:

- a position update of an open position (size != 0, same margin mode), and
- a balance event of a cross margin account the retention rule cannot be forgetting,

each after the stale test, with the owner's banded rows valued at their marks first. The
account is then summed in canonical order (wallet + uPnL, MM; `risk.kernels.accounts`) and its
next level decided. It stops at the first row it cannot decide alone: another kind of event,
a new or closed position, a mode change, an identity it was not given, a retention sweep
that is due, or a level change (that row is applied; Python writes its record). The same
operations in the same order as the per-event path, so the same bits.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from risk.kernels.accounts import Table, next_level, table_tier
from risk.kernels.memory import (
    ROWS,
    Columns,
    float32s,
    float64s,
    int16s,
    margin_columns,
    position_columns,
)

# codes columns: kind, margin mode, position side, seq (-1: none), ts
KIND, MODE, SIDE, SEQ, TS = range(5)
# floats columns: size / wallet, entry price, isolated margin (NaN: none)
VALUE, ENTRY, MARGIN = range(3)
# resolved columns: symbol (position) or asset (balance), account name, the cross margin
# account, the isolated one (-1: none known)
KEY, ACCOUNT, CROSS_ACCOUNT, ISOLATED_ACCOUNT = range(4)
POSITION_KIND, BALANCE_KIND = 1, 2  # risk.batch.POSITION, BALANCE
# per row, written by the kernel
PENDING, APPLIED, STALE, DECIDE = 0, 1, 2, 3
NO_SEQ, CROSS, ISOLATED = -1, 0, 1

Rows = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]
Market = tuple[Table, NDArray[np.int32], NDArray[np.float64]]
Found = tuple[int, int]


@njit(cache=True)
def apply_updates(
    start: int,
    rows: Rows,
    book: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]],
    market: Market,
    thresholds: tuple[NDArray[np.float64], float],
    clock: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]],
    results: tuple[NDArray[np.int8], NDArray[np.int64]],
) -> int:
    """Apply rows start.. until one needs the per-event path; return the first row not done.

    `rows` = (codes, floats, resolved); `book` = (engine column addresses, their lengths
    (margin accounts, pids), block addresses and rows per symbol); `market` = (instrument
    table, settle asset per symbol, mark per symbol (NaN: none)); `clock` = ((next sweep,
    horizon), replay time per shard (advanced in place), shard per account name);
    `results` = (outcome, margin account) per row. A row left PENDING is the caller's; a
    DECIDE row is applied but its level change is not written.
    """
    codes, resolved = rows[0], rows[2]
    addresses, counts, blocks = book
    margin = margin_columns(addresses, counts[0])
    positions = position_columns(addresses, counts[1])
    outcome, owners = results
    (next_sweep, horizon), times, shards = (clock[0][0], clock[0][1]), clock[1], clock[2]
    latest = times.max()
    row = start
    while row < len(codes) and latest < next_sweep:
        account = resolved[row, ACCOUNT]
        if account < 0:
            break
        shard = shards[account]
        edge = times[shard] - horizon
        kind = codes[row, KIND]
        if kind == POSITION_KIND:
            result, owner = _position(row, rows, (margin, positions), blocks, market)
        elif kind == BALANCE_KIND:
            result, owner = _balance(row, rows, (margin, positions), blocks, market, edge)
        else:
            break
        if result == PENDING:
            break
        if result != STALE:
            times[shard] = max(times[shard], codes[row, TS])
            latest = max(latest, times[shard])
            if margin[9][owner]:  # an emptied account's balance is only written
                result = _decide(owner, (margin, positions), blocks, market, thresholds)
        outcome[row], owners[row] = result, owner
        row += 1
        if result == DECIDE:
            break
    return row


@njit(cache=True)
def _position(
    row: int, rows: Rows, book: tuple[Columns, Columns], blocks: NDArray[np.int64], market: Market
) -> Found:
    """A position update of an open position: (outcome, its margin account)."""
    codes, floats, resolved = rows
    margin, positions = book
    symbol, account = resolved[row, KEY], resolved[row, ACCOUNT]
    size = floats[row, VALUE]
    if symbol < 0 or account < 0 or size == 0.0:
        return PENDING, -1
    pid, owner = _find(row, rows, margin, positions, market[1])
    if pid < 0 or margin[1][owner] != codes[row, MODE]:
        return PENDING, -1
    seq, ts = codes[row, SEQ], codes[row, TS]
    if _older(seq, ts, positions[3][pid], positions[4][pid]):
        return STALE, owner
    _settle(owner, margin, positions, blocks, market)
    wallet, equity, maintenance = margin[5], margin[6], margin[7]
    isolated_margin = floats[row, MARGIN]
    if not np.isnan(isolated_margin) and margin[1][owner] == ISOLATED:
        equity[owner] += isolated_margin - wallet[owner]
        wallet[owner] = isolated_margin
    entry = floats[row, ENTRY]
    mark = market[2][symbol]
    price = entry if np.isnan(mark) else mark
    pnl, row_maintenance, tier = value_row(market[0], symbol, size, entry, price)
    columns, at = blocks[symbol], positions[1][pid]
    count = columns[ROWS]
    pnls, maintenances = float64s(columns[2], count), float64s(columns[3], count)
    equity[owner] += pnl - pnls[at]
    maintenance[owner] += row_maintenance - maintenances[at]
    float64s(columns[0], count)[at] = size
    float64s(columns[1], count)[at] = entry
    pnls[at], maintenances[at] = pnl, row_maintenance
    int16s(columns[4], count)[at] = tier
    positions[3][pid], positions[4][pid] = seq, ts
    return APPLIED, owner


@njit(cache=True)
def _find(
    row: int, rows: Rows, margin: Columns, positions: Columns, settle: NDArray[np.int32]
) -> Found:
    """(pid, margin account) of the open position of the row's identity, or (-1, -1), in the
    margin accounts the row was resolved to, each checked to still be that identity."""
    codes, _, resolved = rows
    symbol, account, side = resolved[row, KEY], resolved[row, ACCOUNT], codes[row, SIDE]
    holder, mode, asset = margin[0], margin[1], margin[2]
    own_symbol, own_side = margin[3], margin[4]
    cross = resolved[row, CROSS_ACCOUNT]
    if cross >= 0:
        if holder[cross] != account or mode[cross] != CROSS or asset[cross] != settle[symbol]:
            return -1, -1
        pid = margin[10][cross]
        while pid != -1:
            if positions[0][pid] == symbol and positions[2][pid] == side:
                return pid, cross
            pid = positions[5][pid]
    isolated = resolved[row, ISOLATED_ACCOUNT]
    if isolated < 0:
        return -1, -1
    if holder[isolated] != account or mode[isolated] != ISOLATED:
        return -1, -1
    if own_symbol[isolated] != symbol or own_side[isolated] != side:
        return -1, -1
    if margin[9][isolated] == 0:
        return -1, -1
    return margin[10][isolated], isolated


@njit(cache=True)
def _balance(
    row: int,
    rows: Rows,
    book: tuple[Columns, Columns],
    blocks: NDArray[np.int64],
    market: Market,
    edge: int,
) -> Found:
    """A balance event of a known cross margin account: (outcome, that account)."""
    codes, floats, resolved = rows
    margin, positions = book
    asset, account = resolved[row, KEY], resolved[row, ACCOUNT]
    target = resolved[row, CROSS_ACCOUNT]
    if account < 0 or target < 0:
        return PENDING, -1
    if margin[0][target] != account or margin[1][target] != CROSS or margin[2][target] != asset:
        return PENDING, -1
    held, balance_seq, balance_ts = margin[9][target], margin[11], margin[12]
    if held == 0 and balance_ts[target] <= edge:  # the retention rule may forget it
        return PENDING, -1
    seq, ts = codes[row, SEQ], codes[row, TS]
    if balance_ts[target] == NO_SEQ:
        if ts <= edge:
            return STALE, target
    elif _older(seq, ts, balance_seq[target], balance_ts[target]):
        return STALE, target
    _settle(target, margin, positions, blocks, market)
    balance_seq[target], balance_ts[target] = seq, ts
    wallet, equity = margin[5], margin[6]
    if held == 0:
        wallet[target] = equity[target] = floats[row, VALUE]
    else:
        equity[target] += floats[row, VALUE] - wallet[target]
        wallet[target] = floats[row, VALUE]
    return APPLIED, target


@njit(cache=True, inline="always")
def _older(seq: int, ts: int, last_seq: int, last_ts: int) -> bool:
    """By seq when both carry one, else by ts (docs/ENGINE.md)."""
    if seq != NO_SEQ and last_seq != NO_SEQ:  # noqa: PLR1714 (compiled: no tuple)
        return seq < last_seq
    return ts < last_ts


@njit(cache=True, inline="always")
def value_row(
    table: Table, code: int, size: float, entry: float, price: float
) -> tuple[float, float, int]:
    """(uPnL, maintenance margin, tier) of one position at `price` (risk.valuation)."""
    contract_size = table[1][code]
    quantity = abs(size) * contract_size
    if table[0][code]:
        notional = quantity * price
        pnl = (price - entry) * size * contract_size
    else:
        notional = quantity / price
        pnl = (1.0 / entry - 1.0 / price) * size * contract_size
    first = table[3][code]
    tier = table_tier(table[5], first, table[4][code], notional)
    return pnl, notional * table[6][first + tier] - table[7][first + tier], tier


@njit(cache=True)
def _settle(
    owner: int, margin: Columns, positions: Columns, blocks: NDArray[np.int64], market: Market
) -> None:
    """Value the owner's banded rows at their marks and drop their bands (the per-event
    path's `_settle_account`)."""
    equity, maintenance = margin[6], margin[7]
    pid = margin[10][owner]
    while pid != -1:
        symbol, at = positions[0][pid], positions[1][pid]
        columns, mark = blocks[symbol], market[2][symbol]
        count = columns[ROWS]
        low, high = float32s(columns[5], count), float32s(columns[6], count)
        if low[at] < high[at] and not np.isnan(mark):
            size, entry = float64s(columns[0], count)[at], float64s(columns[1], count)[at]
            pnl, row_maintenance, tier = value_row(market[0], symbol, size, entry, mark)
            pnls, maintenances = float64s(columns[2], count), float64s(columns[3], count)
            equity[owner] += pnl - pnls[at]
            maintenance[owner] += row_maintenance - maintenances[at]
            pnls[at], maintenances[at] = pnl, row_maintenance
            int16s(columns[4], count)[at] = tier
            low[at], high[at] = np.inf, -np.inf
        pid = positions[5][pid]


@njit(cache=True)
def _decide(
    owner: int,
    book: tuple[Columns, Columns],
    blocks: NDArray[np.int64],
    market: Market,
    thresholds: tuple[NDArray[np.float64], float],
) -> int:
    """Write the owner's canonical totals; APPLIED, or DECIDE when its level changes.

    equity = wallet + sum uPnL, MM = sum maintenance margin over its positions in canonical
    order (rank of the symbol name, side), as `Evaluation._canonical_totals` sums them.
    """
    margin, positions = book
    held = margin[9][owner]
    rank = market[0][2]
    pids = np.empty(held, dtype=np.int64)
    pid, count = margin[10][owner], 0
    while pid != -1:
        key = (rank[positions[0][pid]], positions[2][pid])
        slot = count
        while slot > 0:
            before = pids[slot - 1]
            if (rank[positions[0][before]], positions[2][before]) <= key:
                break
            pids[slot] = before
            slot -= 1
        pids[slot] = pid
        count += 1
        pid = positions[5][pid]
    equity, total = margin[5][owner], 0.0
    for index in range(count):
        columns = blocks[positions[0][pids[index]]]
        at = positions[1][pids[index]]
        equity += float64s(columns[2], columns[ROWS])[at]
        total += float64s(columns[3], columns[ROWS])[at]
    margin[6][owner], margin[7][owner] = equity, total
    current = margin[8][owner]
    level = next_level(current, equity, total, thresholds)
    return APPLIED if level == current else DECIDE
