"""One partition in an engine of its own, restored from the partition's checkpoint.

The demo runs its book as such a task. A worker restores every partition it is assigned as
one, lets it catch up to the worker's broadcast position, then moves its accounts into the
worker's holding (`streams.kafka.holding`, docs/STREAMS.md), read out of the task's book
(`risk.engine.extraction`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

import orjson

from risk.batch import OTHER, EventBatch
from risk.checkpoint import PROJECTION, StateKey, restore, restore_projection
from risk.events import Event, Rejection
from risk.sharding import Sharding
from streams.codec import decode_event
from streams.columns import add_line
from streams.config import EngineConfig
from streams.kafka.holding import Holding
from streams.kafka.inputs import OwnSource, Record
from streams.kafka.outputs import LEVEL, Output


class CheckpointError(Exception):
    """A changelog the worker cannot rebuild its state from; one line for the operator."""


# Changelog keys are JSON arrays whose first element is the kind (`streams.kafka.outputs`)
ACCOUNT_PREFIXES: Final = {b'["position",': "position", b'["balance",': "balance"}


@dataclass
class Checkpoint:
    """A task's committed state as read back from its changelog partition: the broadcast
    events, the balance and position rows in columns, levels, cursor, projection state."""

    events: list[Event] = field(default_factory=list)
    levels: dict[str, tuple[str, int]] = field(default_factory=dict)
    cursor: dict[str, Any] = field(default_factory=dict)
    projection: dict[StateKey, Any] = field(default_factory=dict)
    accounts: EventBatch = field(default_factory=EventBatch)

    @classmethod
    def from_entries(cls, entries: dict[bytes, bytes]) -> Checkpoint:
        """Decode the latest value of every changelog key (tombstones already removed); the
        balances and positions, nearly all of them, straight into columns."""
        checkpoint = cls()
        accounts = checkpoint.accounts
        for key, value in entries.items():
            kind = ACCOUNT_PREFIXES.get(key[: key.find(b",") + 1])
            if kind is not None:
                add_line(accounts, value, kind)
                if accounts.kind[-1] == OTHER:
                    _unparsable(key, accounts.others[len(accounts) - 1])
                continue
            parts = orjson.loads(key)
            if parts == ["cursor"]:
                checkpoint.cursor = orjson.loads(value)
            elif parts[0] == LEVEL:
                level = orjson.loads(value)
                checkpoint.levels[parts[1]] = (level["level"], level["count"])
            elif parts[0] == PROJECTION:
                checkpoint.projection[tuple(parts)] = orjson.loads(value)
            else:
                event = decode_event(value, parts[0])
                if isinstance(event, Rejection):
                    _unparsable(key, event)
                checkpoint.events.append(event)
        return checkpoint


def _unparsable(key: bytes, event: Event | Rejection) -> NoReturn:
    """An entry written by a different config or version."""
    reason = event.reason if isinstance(event, Rejection) else "not an account event"
    raise CheckpointError(
        f"changelog entry {key.decode(errors='replace')} no longer parses "
        f"({reason}): was it written with another instruments config?"
    )


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
            accounts=checkpoint.accounts,
        )
        restore_projection(engine, checkpoint.projection)
        super().__init__(engine, broadcast_cursors(checkpoint))
        self.partition = partition
        self.add_partition(partition, sources)

    def apply(self, record: Record, event_type: str, *, broadcast: bool) -> None:
        """Decode and apply one record (`apply_records` of one)."""
        self.apply_records([(record, event_type, None if broadcast else self.partition)])

    def drain_output(self) -> Output:
        """The round's output (`drain_outputs` of the one partition)."""
        ((_, output),) = self.drain_outputs()
        return output


def broadcast_cursors(checkpoint: Checkpoint) -> dict[tuple[str, int], int]:
    """The broadcast position of a checkpoint: (topic, partition) -> next offset."""
    return {
        _split(name): int(offset) for name, offset in checkpoint.cursor.get("broadcast", {}).items()
    }


def _split(name: str) -> tuple[str, int]:
    topic, _, partition = name.rpartition(":")
    return topic, int(partition)
