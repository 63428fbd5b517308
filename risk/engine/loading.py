"""Loading a checkpoint's accounts in bulk: the book a restore rebuilds, built in arrays.

A restore (risk.checkpoint) applies the last balance and position event of each identity of
some accounts the engine holds nothing of, with nothing forgotten, transitions discarded.
Through the per-event path that costs about 20 µs an event, most of it in bookkeeping a fresh
identity does not need (staleness, settling bands, one compiled call per event); 1M positions
took 34 s. `load_accounts` builds the same book at once (2.8 s):

1. account names, margin accounts and tombstones are decided in arrays, in the per-event
   path's order (balances, then positions: `risk.engine.load_plan`), so names, margin
   accounts and position ids take the same slots (free lists first) as there;
2. the new margin accounts and positions are written column by column; a margin account's
   positions are linked as `MarginAccounts.link` would link them one after another;
3. each symbol's new rows are valued by one compiled pass (`revalue_rows`: at the mark, or
   at the entry price without one), and every new margin account gets its canonical totals
   (wallet + the sum of uPnL, and the maintenance margin, in (symbol, side) order).

Levels and transition counts are left `safe` and 0 and replay time is not moved: the restore
sets them from the checkpoint next (`restore_levels`, `restore_shard`). The result equals the
per-event path's column for column (tests/risk/test_loading.py).
"""

from __future__ import annotations

from array import array
from itertools import compress
from typing import Final

import numpy as np
from numpy.typing import NDArray

from risk.batch import BALANCE, MODE_CODES, POSITION, EventBatch
from risk.book import (
    NO_POSITION,
    NO_SEQ,
    MarginAccounts,
    float_view,
    int8_view,
    int16_view,
    int32_view,
    int64_view,
)
from risk.engine.load_plan import LoadError, LoadPlanning, Plan
from risk.engine.positions import PositionPath
from risk.kernels.accounts import DECIDE
from risk.kernels.valuation import revalue_rows

ISOLATED_CODE: Final = MODE_CODES["isolated"]


class Loading(LoadPlanning, PositionPath):
    """`load_accounts`: a checkpoint's position and balance rows, in bulk."""

    def load_accounts(self, batch: EventBatch, shard: int | None = None) -> None:
        """Apply the batch's position and balance rows (other rows are skipped; a position on
        an unknown symbol too, as the per-event path rejects it) as the per-event path would
        with nothing forgotten, the transitions discarded. `shard`: the shard of every account
        of the batch when the caller knows it (a partition's checkpoint: its partition), so
        that no name is hashed; None hashes each new name.

        Raises LoadError when a row's account is already held (changing nothing), or when an
        identity comes twice (no checkpoint holds one: its keys are the identities); the
        engine is then partly loaded and to be discarded."""
        self._check_fresh(batch)
        self._reclaim_if_due()  # as the per-event path's first event
        plan = self._plan(batch, shard)
        slots = self._place_accounts(plan)
        for table, (keys, ordinals) in (
            (self.cross_accounts, plan.cross),
            (self.isolated_accounts, plan.isolated),
        ):
            table.update(zip(keys, [slots[ordinal] for ordinal in ordinals], strict=True))
        owners = np.asarray(slots, dtype=np.int64)[plan.owner]
        self._place_positions(batch, plan, owners)
        held = np.flatnonzero(np.bincount(owners)).tolist() if len(owners) else []
        if held:
            evaluated = self._evaluated(held, DECIDE)
            float_view(self.margin.equity)[evaluated.accounts] = evaluated.equity
            float_view(self.margin.maintenance)[evaluated.accounts] = evaluated.maintenance

    def _check_fresh(self, batch: EventBatch) -> None:
        """LoadError, before anything changes, unless every account is new to the engine."""
        chosen = [kind in (BALANCE, POSITION) for kind in batch.kind]
        clash = set(compress(batch.name, chosen)) & self.accounts_by_name.keys()
        if clash:
            raise LoadError(f"account {min(clash)!r} is already held")

    def _place_accounts(self, plan: Plan) -> list[int]:
        """Slots for the planned margin accounts (the free list first, as `add` takes them)
        with their identity, wallet and balance order keys; returns slot per ordinal."""
        margin, count = self.margin, len(plan.accounts)
        reused = [margin.free.pop() for _ in range(min(count, len(margin.free)))]
        fresh = count - len(reused)
        if fresh:
            _grow(margin, fresh)
        slots = reused + list(range(len(margin) - fresh, len(margin)))
        where = np.asarray(slots, dtype=np.int64)
        identity = plan.accounts
        for column, values in zip(
            ("account", "asset", "symbol"), identity[:, [0, 2, 3]].T, strict=True
        ):
            int32_view(getattr(margin, column))[where] = values
        int8_view(margin.mode)[where] = identity[:, 1]
        int8_view(margin.side)[where] = identity[:, 4]
        float_view(margin.wallet)[where] = plan.wallet
        float_view(margin.equity)[where] = plan.wallet
        int64_view(margin.balance_seq)[where] = plan.balance_seq
        int64_view(margin.balance_ts)[where] = plan.balance_ts
        refs = self.account_refs
        for account in identity[:, 0].tolist():
            refs[account] += 1
        return slots

    def _place_positions(self, batch: EventBatch, plan: Plan, owners: NDArray[np.int64]) -> None:
        """Position ids (free list first), block rows, account lists, then the rows' values."""
        positions, count = self.positions, len(plan.owner)
        if not count:
            return
        reused = [positions.free.pop() for _ in range(min(count, len(positions.free)))]
        fresh = count - len(reused)
        if fresh:
            start = len(positions.symbol)
            for column, code in ((positions.symbol, "i"), (positions.row, "i")):
                column.extend(array(code, bytes(4 * fresh)))
            positions.side.extend(array("b", bytes(fresh)))
            for column in (positions.seq, positions.ts):
                column.extend(array("q", bytes(8 * fresh)))
            for column in (positions.next, positions.prev):
                column.extend(array("i", [NO_POSITION]) * fresh)
            positions.generation += 1
            reused += range(start, start + fresh)
        pids = np.asarray(reused, dtype=np.int64)
        symbols = plan.symbol
        int32_view(positions.symbol)[pids] = symbols
        int8_view(positions.side)[pids] = plan.side
        rows = plan.rows
        int64_view(positions.seq)[pids] = np.asarray(batch.seq, dtype=np.int64)[rows]
        int64_view(positions.ts)[pids] = np.asarray(batch.ts, dtype=np.int64)[rows]
        self._link(pids, owners)
        sizes = np.asarray(batch.value, dtype=np.float64)[rows]
        entries = np.asarray(batch.entry, dtype=np.float64)[rows]
        for symbol in np.unique(symbols).tolist():
            chosen = np.flatnonzero(symbols == symbol)
            self._append_rows(
                symbol, chosen, pids[chosen], owners[chosen], (sizes[chosen], entries[chosen])
            )

    def _link(self, pids: NDArray[np.int64], owners: NDArray[np.int64]) -> None:
        """Each margin account's new positions in its list, the last applied at the head
        (as `MarginAccounts.link` one after another leaves them)."""
        positions, margin = self.positions, self.margin
        order = np.argsort(owners, kind="stable")
        ordered_owners, ordered = owners[order], pids[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = ordered_owners[1:] != ordered_owners[:-1]
        last = np.ones(len(order), dtype=bool)
        last[:-1] = first[1:]
        following = np.full(len(order), NO_POSITION, dtype=np.int64)  # `next`: applied before
        following[1:] = ordered[:-1]
        following[first] = NO_POSITION
        preceding = np.full(len(order), NO_POSITION, dtype=np.int64)  # `prev`: applied after
        preceding[:-1] = ordered[1:]
        preceding[last] = NO_POSITION
        int32_view(positions.next)[ordered] = following
        int32_view(positions.prev)[ordered] = preceding
        int32_view(margin.head)[ordered_owners[last]] = ordered[last]
        starts = np.flatnonzero(first)  # ordered_owners is sorted: its runs are the owners
        held, counts = ordered_owners[starts], np.diff(np.append(starts, len(ordered_owners)))
        int32_view(margin.positions)[held] = counts

    def _append_rows(
        self,
        symbol: int,
        chosen: NDArray[np.int64],
        pids: NDArray[np.int64],
        owners: NDArray[np.int64],
        values: tuple[NDArray[np.float64], NDArray[np.float64]],
    ) -> None:
        """Append the symbol's new rows (their pids, owners, (size, entry)) to its block and
        value them (at the mark, or the entry price without one)."""
        block, count = self.blocks[symbol], len(chosen)
        start = len(block)
        size, entry = values
        block.size.frombytes(size.tobytes())
        block.entry.frombytes(entry.tobytes())
        for column in (block.pnl, block.maintenance):
            column.frombytes(bytes(8 * count))
        block.tier.frombytes(bytes(2 * count))
        block.account.frombytes(owners.astype(np.int32).tobytes())
        block.pid.frombytes(pids.astype(np.int32).tobytes())
        block.band_low.frombytes(np.full(count, np.inf, dtype=np.float32).tobytes())
        block.band_high.frombytes(np.full(count, -np.inf, dtype=np.float32).tobytes())
        block.moved.add(block.code)
        int32_view(self.positions.row)[pids] = np.arange(start, start + count)
        instrument, mark = self.instruments[symbol], self.marks[symbol]
        tiers = instrument.tiers
        rows = slice(start, start + count)
        revalue_rows(
            instrument.kind == "linear",
            instrument.contract_size,
            np.nan if mark is None else mark,
            tuple(view[rows] for view in self._value_columns(block)),
            int16_view(block.tier)[rows],
            int32_view(block.account)[rows],
            (tiers.cap_array, tiers.mmr_array, tiers.cum_array),
            True,
            (float_view(self.margin.equity), float_view(self.margin.maintenance)),
        )


def _grow(margin: MarginAccounts, count: int) -> None:
    """Append `count` fresh margin account slots (as `MarginAccounts.add` leaves them)."""
    for column, code, fill in (
        (margin.account, "i", 0),
        (margin.mode, "b", 0),
        (margin.asset, "i", 0),
        (margin.symbol, "i", 0),
        (margin.side, "b", 0),
        (margin.level, "b", 0),
        (margin.positions, "i", 0),
        (margin.transitions, "q", 0),
        (margin.head, "i", NO_POSITION),
        (margin.balance_seq, "q", NO_SEQ),
        (margin.balance_ts, "q", NO_SEQ),
    ):
        column.extend(array(code, [fill]) * count)
    for money in (margin.wallet, margin.equity, margin.maintenance):
        money.extend(array("d", bytes(8 * count)))
    margin.generation += 1
