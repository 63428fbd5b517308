"""A worker's partitions: those it serves in one sharded engine, and those catching up.

A worker applies every mark once, to one engine whose shards are its partitions
(`streams.kafka.holding`). A partition it is assigned is first restored from its changelog into an
engine of its own (`streams.kafka.task.PartitionTask`), at the broadcast position of its
checkpoint. That task catches up until it stands at the served engine's broadcast position,
then its accounts move into the served engine (`risk.checkpoint.admit` of the rows read out
of the task's book, `Engine.account_rows`) and the task ends. The first partition needs no
move: its engine becomes the served one. Both hold the same broadcasts at the move, and
shards keep each partition's clock, so the partition goes on exactly as in an engine of its
own (docs/STREAMS.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from risk.batch import EventBatch
from risk.checkpoint import admit, restore, restore_projection
from risk.engine import Engine
from risk.sharding import Sharding
from streams.config import EngineConfig
from streams.kafka.checkpoints import Checkpoint, broadcast_cursors
from streams.kafka.holding import BroadcastKey, Holding
from streams.kafka.inputs import BroadcastLog, OwnSource
from streams.kafka.outputs import Output
from streams.kafka.partitioning import partition_of
from streams.kafka.task import PartitionTask


def account_sharding(partitions: int) -> Sharding:
    """Shards = partitions of the account topics, which are keyed by the account name."""
    return Sharding(partitions, lambda account: partition_of(account.encode(), partitions))


class Holdings:
    """The served holding (None until a partition is ready) and the partitions catching up."""

    def __init__(self, config: EngineConfig, watch: Callable[[Holding], None]) -> None:
        self.config = config
        self.watch = watch  # called with each new served holding (the fund desk's listener)
        self.served: Holding | None = None
        self.joining: dict[int, PartitionTask] = {}

    @property
    def partitions(self) -> list[int]:
        """The partitions served (not those still catching up)."""
        return [] if self.served is None else self.served.partitions

    def all_partitions(self) -> set[int]:
        return set(self.partitions) | set(self.joining)

    def engines(self) -> list[Engine]:
        held = [] if self.served is None else [self.served.engine]
        return held + [task.engine for task in self.joining.values()]

    def holdings(self) -> Iterator[Holding]:
        if self.served is not None:
            yield self.served
        yield from self.joining.values()

    def sources(self) -> Iterator[tuple[int, OwnSource]]:
        """(partition, source) of every account input held."""
        for holding in self.holdings():
            for partition, sources in holding.sources.items():
                for source in sources.values():
                    yield partition, source

    def source(self, partition: int, kind: str) -> OwnSource | None:
        for holding in self.holdings():
            if partition in holding.sources:
                return holding.sources[partition][kind]
        return None

    def lowest_cursor(self, key: BroadcastKey) -> int | None:
        cursors = [holding.broadcast_cursors.get(key, 0) for holding in self.holdings()]
        return min(cursors) if cursors else None

    # -- partitions come and go ------------------------------------------------------------------

    def start(
        self,
        partition: int,
        sources: dict[str, OwnSource],
        checkpoint: Checkpoint,
        *,
        count: int,
    ) -> PartitionTask:
        """Restore `partition` from its checkpoint into an engine of its own, to catch up."""
        task = PartitionTask(
            partition,
            self.config,
            sources,
            checkpoint,
            sharding=account_sharding(count),
        )
        task.engine.watch_epochs(lambda _: None)  # the epoch clock runs as in a served engine
        self.joining[partition] = task
        return task

    def start_together(
        self, parts: list[tuple[int, dict[str, OwnSource], Checkpoint]], *, count: int
    ) -> Holding:
        """Partitions whose checkpoints stand at the same broadcast position (a restarted
        worker's: it committed them together), restored at once as the served engine: the
        account events of each, the broadcasts and projection state of one, each partition's
        own replay time."""
        assert self.served is None
        engine = self.config.engine(account_sharding(count))
        accounts: list[tuple[EventBatch, int | None]] = []
        levels: dict[str, tuple[str, int]] = {}
        times = [0] * count
        for partition, _, checkpoint in parts:
            accounts.append((checkpoint.accounts, partition))
            levels.update(checkpoint.levels)
            times[partition] = int(checkpoint.cursor.get("replay_time", 0))
        restore(engine, parts[0][2].events, levels, times, accounts=accounts)
        first = parts[0][2]
        restore_projection(engine, first.projection)
        served = Holding(engine, broadcast_cursors(first))
        served.broadcast_state = dict(first.broadcasts)
        for partition, sources, checkpoint in parts:
            served.add_partition(partition, sources, since_snapshot=checkpoint.since_snapshot)
        self.served = served
        self.watch(served)
        return served

    def drop(self, partition: int) -> None:
        """Let go of `partition`: its accounts leave the served engine, or its task ends."""
        if self.joining.pop(partition, None) is not None:
            return
        served = self.served
        if served is not None and partition in served.sources:
            served.engine.drop_shard(partition)
            served.remove_partition(partition)
            if not served.sources:  # a worker that owns no partitions pays for no marks
                self.served = None

    def clear(self) -> None:
        self.served = None
        self.joining.clear()

    # -- a round -------------------------------------------------------------------------------

    def run(
        self,
        broadcast: BroadcastLog,
        broadcast_types: dict[BroadcastKey, str],
        horizons: Mapping[BroadcastKey, int | None],
        budget: int,
    ) -> int:
        """The served holding's round, then each catching-up task's up to its position."""
        applied = 0
        limit = None
        if self.served is not None:
            applied += self.served.run(broadcast, broadcast_types, horizons, budget)
            limit = dict(self.served.broadcast_cursors)
        for task in self.joining.values():
            applied += task.run(broadcast, broadcast_types, horizons, budget, limit=limit)
        return applied

    def drain_outputs(self) -> list[tuple[int, dict[str, OwnSource], Output]]:
        """Every partition's output of the round, with its sources (their offsets commit)."""
        return [
            (partition, holding.sources[partition], output)
            for holding in list(self.holdings())
            for partition, output in holding.drain_outputs()
        ]

    def joinable(self, broadcast_keys: list[BroadcastKey]) -> bool:
        """Could a catching-up task join now (`join_ready`)?"""
        return any(
            self.served is None or self._at_served_position(task, broadcast_keys)
            for task in self.joining.values()
        )

    def _at_served_position(self, task: PartitionTask, broadcast_keys: list[BroadcastKey]) -> bool:
        served = self.served
        assert served is not None
        return all(
            task.broadcast_cursors.get(key, 0) == served.broadcast_cursors.get(key, 0)
            for key in broadcast_keys
        )

    def join_ready(self, broadcast_keys: list[BroadcastKey]) -> list[int]:
        """Move every task that stands at the served broadcast position into the served
        holding (after a commit: their outputs are published); the partitions moved."""
        moved = []
        for partition, task in list(self.joining.items()):
            served = self.served
            if served is None:
                self.served = task
                self.watch(task)
            elif self._at_served_position(task, broadcast_keys):
                self._admit(served, task)
            else:
                continue
            del self.joining[partition]
            moved.append(partition)
        return moved

    @staticmethod
    def _admit(served: Holding, task: PartitionTask) -> None:
        """The task's accounts read out of its engine into the served one, with its levels
        and replay time (`risk.engine.extraction`): the partition's checkpoint as it stands."""
        partition, engine = task.partition, task.engine
        levels, replay_time = engine.shard_levels(partition), engine.replay_times[partition]
        rows = engine.account_rows(partition)
        admit(served.engine, partition, (), levels, replay_time, accounts=[(rows, partition)])
        since = task.since_snapshot[partition]
        served.add_partition(
            partition, task.sources[partition], written=False, since_snapshot=since
        )
