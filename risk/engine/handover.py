"""Handing a shard over: drop all of it, or take one back in from its checkpoint.

A worker holding several Kafka partitions in one sharded engine (risk.sharding) loses a
partition on a rebalance and gains others. `drop_shard` forgets every account of a shard at
once, with no records: the partition's new owner rebuilds it from the changelog.
`restore_shard` is the end of `risk.checkpoint.admit`: after the shard's last account events
were applied (nothing forgotten), its levels, transition counts and replay time are those of
the checkpoint. Nothing the other shards hold changes (docs/ENGINE.md, "Shards").
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from risk.book import NO_POSITION, int8_view, int64_view
from risk.engine.positions import PositionPath
from risk.engine.queries import Queries
from risk.levels import LEVEL_NAMES


class Handover(PositionPath, Queries):
    """Dropping and restoring whole shards of a sharded engine."""

    def shard_accounts(self, shard: int) -> list[int]:
        """The margin accounts (free slots excluded) whose account is in `shard`."""
        shards, held = self._margin_account_shards()
        return np.flatnonzero(held & (shards == shard)).tolist()

    def shard_levels(self, shard: int) -> dict[str, tuple[str, int]]:
        """Margin account id -> (level, transitions so far) of the shard's margin accounts
        that have left `safe` or changed level before, and of its forgotten ones with a
        carried count: what a checkpoint stores (a restore takes an account it does not name
        as `safe` with no transitions)."""
        margin, levels = self.margin, {}
        accounts = np.asarray(self.shard_accounts(shard), dtype=np.int64)
        moved = (int8_view(margin.level)[accounts] != 0) | (
            int64_view(margin.transitions)[accounts] != 0
        )
        for index in accounts[moved].tolist():
            levels[self.margin_account_id(index)] = (
                LEVEL_NAMES[margin.level[index]],
                margin.transitions[index],
            )
        for identity, count in self.carried_counts.items():
            if self._shard_of_id(identity) == shard:
                levels.setdefault(identity, ("safe", count))
        return levels

    def drop_shard(self, shard: int) -> None:
        """Forget every account of `shard`: positions, margin accounts, tombstones, carried
        counts and names, with no records; its replay time starts again at 0."""
        for index in self.shard_accounts(shard):
            pid = self.margin.head[index]
            while pid != NO_POSITION:
                following = self.positions.next[pid]
                self._close_position(pid, index)
                pid = following
            self._release_margin_account(index)
        for account in [account for account in self.tombstones if self._in(account, shard)]:
            for key in list(self.tombstones[account]):
                self._unbury(account, key)
        self.carried_counts = {
            identity: count
            for identity, count in self.carried_counts.items()
            if self._shard_of_id(identity) != shard
        }
        self._release_names()
        self.replay_times[shard] = 0

    def restore_shard(
        self, shard: int, levels: Mapping[str, tuple[str, int]], replay_time: int
    ) -> None:
        """Levels and counts of the shard's margin accounts from `levels` (others `safe`, no
        transitions; counts of accounts holding nothing are carried), its replay time, then
        a sweep of what the rule has forgotten at that time."""
        self.carried_counts.update(self._set_levels(self.shard_accounts(shard), levels))
        self.replay_times[shard] = replay_time
        self.reclaim()

    def _in(self, account: int, shard: int) -> bool:
        return self.account_shards[account] == shard

    def _shard_of_id(self, margin_account_id: str) -> int:
        return self.sharding.of(margin_account_id.split("/", 1)[0])
