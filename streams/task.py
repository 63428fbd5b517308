"""One partition's worth of accounts: its engine, its input cursors and what it owes Kafka.

Task p owns partition p of the positions and balances topics (keyed by account, so whole
accounts) and partition p of the changelog. It applies every broadcast record (marks,
instruments, fund, depth) to its own engine, so a task restored from an older checkpoint can
replay broadcasts from its own cursor without disturbing the others. What one round of
processing produced (transitions, dead letters, changelog entries, cursors) is published by
the worker in one Kafka transaction (docs/STREAMS.md).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Final

import orjson

from risk.batch import EventBatch
from risk.checkpoint import (
    PROJECTION,
    StateKey,
    projection_entries,
    restore,
    restore_projection,
    row_state_key,
    written_versions,
)
from risk.engine import ACCEPTED, REJECTED
from risk.engine.bulk import STATUSES
from risk.events import NOT_AN_OBJECT, Event, Rejection
from risk.records import Transition
from streams.codec import decode_event, encode_record
from streams.columns import add_line
from streams.config import EngineConfig
from streams.inputs import BroadcastLog, OwnSource, Record, Slot, merge_order

CURSOR_KEY: Final = orjson.dumps(["cursor"])
LEVEL: Final = "level"


class CheckpointError(Exception):
    """A changelog the worker cannot rebuild its state from; one line for the operator."""


@dataclass(frozen=True)
class DeadLetter:
    """A rejected message, forwarded unchanged with where it came from and why."""

    record: Record
    reason: str

    def headers(self) -> list[tuple[str, bytes]]:
        record = self.record
        return [
            ("reason", self.reason.encode()),
            ("topic", record.topic.encode()),
            ("partition", str(record.partition).encode()),
            ("offset", str(record.offset).encode()),
        ]


@dataclass
class Output:
    """What one round owes Kafka, published atomically by the worker."""

    transitions: list[Transition] = field(default_factory=list)
    taken_at: list[float] = field(default_factory=list)  # monotonic time, per transition
    dead_letters: list[DeadLetter] = field(default_factory=list)
    changelog: dict[bytes, bytes | None] = field(default_factory=dict)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejects: Counter[str] = field(default_factory=Counter)
    events: int = 0


@dataclass
class Checkpoint:
    """A task's committed state as read back from its changelog partition."""

    events: list[Event] = field(default_factory=list)
    levels: dict[str, tuple[str, int]] = field(default_factory=dict)
    cursor: dict[str, Any] = field(default_factory=dict)
    projection: dict[StateKey, Any] = field(default_factory=dict)

    @classmethod
    def from_entries(cls, entries: dict[bytes, bytes]) -> Checkpoint:
        """Decode the latest value of every changelog key (tombstones already removed)."""
        checkpoint = cls()
        for key, value in entries.items():
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
                if isinstance(event, Rejection):  # written by a different config or version
                    raise CheckpointError(
                        f"changelog entry {key.decode(errors='replace')} no longer parses "
                        f"({event.reason}): was it written with another instruments config?"
                    )
                checkpoint.events.append(event)
        return checkpoint


class PartitionTask:
    """Engine and cursors of partition p; `run` processes what can be ordered now."""

    def __init__(
        self,
        partition: int,
        config: EngineConfig,
        sources: dict[str, OwnSource],
        checkpoint: Checkpoint,
    ) -> None:
        self.partition = partition
        self.engine = config.engine()
        restore(
            self.engine,
            checkpoint.events,
            checkpoint.levels,
            int(checkpoint.cursor.get("replay_time", 0)),
        )
        restore_projection(self.engine, checkpoint.projection)
        self.projection_written = written_versions(self.engine)
        self.sources = sources
        self.broadcast_cursors: dict[tuple[str, int], int] = {
            _split(name): int(offset)
            for name, offset in checkpoint.cursor.get("broadcast", {}).items()
        }
        self.reports_broadcasts = partition == 0  # counts and dead-letters them, once
        self.output = Output()

    def cursor_document(self) -> dict[str, Any]:
        return {
            "inputs": {kind: source.next_offset for kind, source in self.sources.items()},
            "broadcast": {
                f"{topic}:{partition}": offset
                for (topic, partition), offset in sorted(self.broadcast_cursors.items())
            },
            "replay_time": self.engine.replay_time,
        }

    def run(
        self,
        broadcast: BroadcastLog,
        broadcast_types: dict[tuple[str, int], str],
        horizons: dict[tuple[str, int], int | None],
        budget: int,
    ) -> int:
        """Apply records in merge order until one must wait, all are drained or `budget` ends.

        `horizons[(topic, partition)]` is what the consumer vouches for a drained partition
        (see `streams.inputs.merge_order`); a missing entry means nothing is known yet. The
        records are ordered in arrays, decoded into columns and applied in one batch.
        Returns the number of records applied.
        """
        slots = [
            Slot(kind, source.topic, self.partition, list(islice(source.records, budget)),
                 horizons.get((source.topic, self.partition)))
            for kind, source in self.sources.items()
        ]  # fmt: skip
        for key, event_type in broadcast_types.items():
            cursor = self.broadcast_cursors.setdefault(key, 0)
            records = broadcast.since(key, cursor, budget)
            slots.append(Slot(event_type, key[0], key[1], records, horizons.get(key)))
        taken: list[tuple[Record, str, bool]] = []
        for slot, index in merge_order(slots, budget):
            chosen = slots[slot]
            record = chosen.records[index]
            own = self.sources.get(chosen.event_type)
            if own is not None:
                own.take()
            else:
                self.broadcast_cursors[(record.topic, record.partition)] = record.offset + 1
            taken.append((record, chosen.event_type, own is None))
        self.apply_records(taken)
        return len(taken)

    def apply(self, record: Record, event_type: str, *, broadcast: bool) -> None:
        """Decode and apply one record (`apply_records` of one)."""
        self.apply_records([(record, event_type, broadcast)])

    def apply_records(self, taken: Sequence[tuple[Record, str, bool]]) -> None:
        """Decode (record, event type, is it a broadcast) into columns and apply them in one
        batch; collect the transitions, dead letters and state entries."""
        if not taken:
            return
        batch = EventBatch()
        for record, event_type, _ in taken:
            if record.value is None:
                batch.add(Rejection(NOT_AN_OBJECT))
            else:
                add_line(batch, record.value, event_type)
        result = self.engine.apply_batch(batch)
        output = self.output
        output.events += len(taken)
        statuses = result.status.tolist()
        for row, (record, event_type, broadcast) in enumerate(taken):
            status = STATUSES[statuses[row]]
            reports = not broadcast or self.reports_broadcasts
            if reports:
                output.outcomes[(event_type, status)] += 1
            if status == REJECTED:
                if reports:
                    reason = result.reasons.get(row, "")
                    output.rejects[reason] += 1
                    output.dead_letters.append(DeadLetter(record, reason))
            elif status == ACCEPTED and record.value is not None:
                output.changelog[encode_key(row_state_key(batch, row))] = record.value
        taken_at = time.monotonic()
        for _, transitions in result.transitions:
            for transition in transitions:
                output.transitions.append(transition)
                output.taken_at.append(taken_at)
                count = int(transition.event_id.rsplit("#", 1)[1])
                key = encode_key((LEVEL, transition.margin_account))
                output.changelog[key] = orjson.dumps({"level": transition.to_level, "count": count})

    def drain_output(self) -> Output:
        """Hand over the round's output, with this task's cursor as the last changelog entry."""
        output, self.output = self.output, Output()
        if output.events:
            for key, value in projection_entries(self.engine, self.projection_written).items():
                output.changelog[encode_key(key)] = orjson.dumps(value)
            output.changelog[CURSOR_KEY] = orjson.dumps(self.cursor_document())
        return output


def encode_key(key: StateKey) -> bytes:
    return orjson.dumps(list(key))


def transition_value(transition: Transition) -> bytes:
    """The record of SPEC §7, byte for byte what `riskmon replay` writes on a line."""
    return encode_record(transition.as_record()).encode()


def _split(name: str) -> tuple[str, int]:
    topic, _, partition = name.rpartition(":")
    return topic, int(partition)
