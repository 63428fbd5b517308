"""Shards: accounts grouped so that one engine decides each group as an engine of its own.

A Kafka worker holds the accounts of several partitions. For each partition's events to be
decided exactly as an engine holding that partition alone would decide them, replay time is
kept per shard (docs/ENGINE.md, "Shards"): an account event reads and advances its shard's
replay time; a broadcast (mark, instrument, fund, depth) advances every shard's. The
retention watermark, the stale rule for forgotten identities, and the `ts` of an
instrument's records are then per shard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


def _one_shard(_: str) -> int:
    return 0


@dataclass(frozen=True)
class Sharding:
    """`count` shards; `shard_of(account name)` is the shard of an account, in [0, count)."""

    count: int = 1
    shard_of: Callable[[str], int] = field(default=_one_shard)

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError("a sharding needs at least one shard")

    def of(self, account: str) -> int:
        """The shard of `account`; a shard outside [0, count) is a caller's bug."""
        shard = self.shard_of(account)
        if not 0 <= shard < self.count:
            raise ValueError(f"shard {shard} of account {account!r} is not in [0, {self.count})")
        return shard
