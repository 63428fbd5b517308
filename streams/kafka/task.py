"""One partition in an engine of its own, restored from the partition's checkpoint.

The demo runs its book as such a task. A worker restores every partition it is assigned as
one, lets it catch up to the worker's broadcast position, then moves its accounts into the
worker's holding (`streams.kafka.holding`, docs/STREAMS.md), read out of the task's book
(`risk.engine.extraction`).
"""

from __future__ import annotations

from risk.checkpoint import restore, restore_projection
from risk.sharding import Sharding
from streams.config import EngineConfig
from streams.kafka.checkpoints import Checkpoint, broadcast_cursors
from streams.kafka.holding import Holding
from streams.kafka.inputs import OwnSource, Record
from streams.kafka.outputs import Output


class PartitionTask(Holding):
    """Partition p alone in its engine, from its checkpoint; `run` as any holding."""

    def __init__(
        self,
        partition: int,
        config: EngineConfig,
        sources: dict[str, OwnSource],
        checkpoint: Checkpoint,
        *,
        sharding: Sharding | None = None,
    ) -> None:
        engine = config.engine(sharding)
        restore(
            engine,
            checkpoint.events,
            checkpoint.levels,
            int(checkpoint.cursor.get("replay_time", 0)),
            accounts=[(checkpoint.accounts, None if sharding is None else partition)],
        )
        restore_projection(engine, checkpoint.projection)
        super().__init__(engine, broadcast_cursors(checkpoint))
        self.broadcast_state = dict(checkpoint.broadcasts)
        self.partition = partition
        self.add_partition(partition, sources, since_snapshot=checkpoint.since_snapshot)

    def apply(self, record: Record, event_type: str, *, broadcast: bool) -> None:
        """Decode and apply one record (`apply_records` of one)."""
        self.apply_records([(record, event_type, None if broadcast else self.partition)])

    def drain_output(self) -> Output:
        """The round's output (`drain_outputs` of the one partition)."""
        ((_, output),) = self.drain_outputs()
        return output
