"""Retention: what the engine forgets once it is older than the horizon (SPEC §13).

The rule is logical (docs/ENGINE.md, "Retention"): with the watermark `W = replay time -
horizon` (the replay time of the account's shard, `risk.sharding`), taken before each event,
- a closed position's tombstone (its last order keys) whose `ts <= W` is forgotten;
- an emptied margin account is forgotten when its last balance event has `ts <= W` (or it has
  none) and no tombstone that could belong to it is remembered (for a cross account (a, S): a
  closed position of account a in a symbol settling in S; for an isolated one: its own
  position). Its transition count is kept for good (`carried_counts`);
- a position or balance event for an identity with no remembered order keys is stale when its
  `ts <= W`.
A forgotten entry that is still in memory behaves exactly as if it were gone; `reclaim` frees
memory in sweeps every `sweep_ms` of event time, and when it runs changes no output.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import numpy as np
from numpy.typing import NDArray

from risk.book import CROSS, NO_POSITION, int32_view
from risk.engine.state import KEY_SPAN, EngineState

NEVER: Final = 1 << 62  # a horizon no replay time reaches: nothing is forgotten


class Forgetting(EngineState):
    """Tombstones, emptied margin accounts and account names under the retention rule."""

    def watermark(self, account: int) -> int:
        """The replay time of the account's shard minus the horizon (ms): what of the
        account is at or below it is forgotten."""
        return self.replay_times[self.account_shards[account]] - self.horizon_ms

    @contextmanager
    def remembering_everything(self) -> Iterator[None]:
        """Forget nothing inside the block (a checkpoint restore replays old events)."""
        self.horizon_ms = NEVER
        try:
            yield
        finally:
            self.horizon_ms = self.retention.horizon_ms

    # -- tombstones ----------------------------------------------------------------------------

    def _tombstone(self, account: int, key: int, edge: int) -> tuple[int, int] | None:
        """The remembered order keys (seq, ts) of closed position `key` of `account`."""
        found = self.tombstones.get(account)
        entry = None if found is None else found.get(key)
        return None if entry is None or entry[1] <= edge else entry

    def _bury(self, account: int, key: int, seq: int, ts: int) -> None:
        found = self.tombstones.setdefault(account, {})
        if key not in found:
            self.account_refs[account] += 1
        found[key] = (seq, ts)

    def _unbury(self, account: int, key: int) -> None:
        found = self.tombstones.get(account)
        if found is None or found.pop(key, None) is None:
            return
        if not found:
            del self.tombstones[account]
        self._unref(account)

    # -- margin accounts -----------------------------------------------------------------------

    def _live(self, table: dict[int, int], key: int, edge: int) -> int | None:
        """The margin account at `key` unless the rule has forgotten it (then it is freed)."""
        index = table.get(key)
        if index is None or not self._forgotten(index, edge):
            return index
        self._forget(index)
        return None

    def _forgotten(self, index: int, edge: int) -> bool:
        margin = self.margin
        if margin.positions[index] or margin.balance_ts[index] > edge:
            return False
        return not self._holds_tombstone(index, edge)

    def _holds_tombstone(self, index: int, edge: int) -> bool:
        """Is a tombstone newer than `edge` one that could belong to this margin account?"""
        margin = self.margin
        found = self.tombstones.get(margin.account[index])
        if not found:
            return False
        if margin.mode[index] != CROSS:
            entry = found.get(margin.symbol[index] * 3 + margin.side[index])
            return entry is not None and entry[1] > edge
        asset, settle = margin.asset[index], self.settle_assets
        return any(ts > edge and settle[key // 3] == asset for key, (_, ts) in found.items())

    def _forget(self, index: int) -> None:
        """Free an emptied margin account, carrying its transition count (SPEC §7)."""
        margin = self.margin
        if margin.transitions[index]:
            self.carried_counts[self.margin_account_id(index)] = margin.transitions[index]
        self._release_margin_account(index)

    def _release_margin_account(self, index: int) -> None:
        """Free a margin account's slot and its entry in the identity tables."""
        margin = self.margin
        account = margin.account[index]
        if margin.mode[index] == CROSS:
            del self.cross_accounts[account * KEY_SPAN + margin.asset[index]]
        else:
            symbol, side = margin.symbol[index], margin.side[index]
            del self.isolated_accounts[(account * KEY_SPAN + symbol) * 3 + side]
        margin.release(index)
        self._unref(account)

    def _unref(self, account: int) -> None:
        self.account_refs[account] -= 1
        if not self.account_refs[account]:
            self.unreferenced.add(account)

    # -- reclaiming ------------------------------------------------------------------------------

    def _reclaim_if_due(self) -> None:
        if self.replay_time >= self.next_sweep:
            self.reclaim()

    def reclaim(self) -> None:
        """Free everything the rule has forgotten at the current watermark (any time: the
        results never depend on when this runs)."""
        sweep = self.retention.sweep_ms
        self.next_sweep = (self.replay_time // sweep + 1) * sweep
        for account, found in list(self.tombstones.items()):
            edge = self.watermark(account)
            expired = [key for key, (_, ts) in found.items() if ts <= edge]
            for key in expired:
                self._unbury(account, key)
            if expired and account in self.tombstones:
                # A dict keeps its table when entries are deleted, and under insert-and-delete
                # churn it grows: a fresh one is sized for what is left (built entry by entry:
                # `dict(found)` may copy the table as it is).
                self.tombstones[account] = {key: entry for key, entry in found.items()}  # noqa: C416
        margin = self.margin
        edges = np.array(self.replay_times, dtype=np.int64) - self.horizon_ms
        shards, held = self._margin_account_shards()
        candidates = np.flatnonzero(
            (int32_view(margin.positions) == 0)
            & (np.frombuffer(margin.balance_ts, dtype=np.int64) <= edges[shards])
            & held
        ).tolist()
        for index in candidates:
            if not self._holds_tombstone(index, self.watermark(margin.account[index])):
                self._forget(index)
        self._release_names()

    def _margin_account_shards(self) -> tuple[NDArray[np.int32], NDArray[np.bool_]]:
        """Per margin account slot: the shard of its account, and whether the slot is held
        (a free slot's shard reads as 0)."""
        accounts = int32_view(self.margin.account)
        return int32_view(self.account_shards)[np.maximum(accounts, 0)], accounts != NO_POSITION

    def _release_names(self) -> None:
        """Account names that no margin account or tombstone refers to any more."""
        for account in self.unreferenced:
            if not self.account_refs[account]:
                del self.accounts_by_name[self.account_names[account]]
                self.account_names[account] = ""
                self.free_names.append(account)
        self.unreferenced.clear()
