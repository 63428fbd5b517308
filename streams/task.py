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
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from risk.checkpoint import (
    PROJECTION,
    StateKey,
    projection_entries,
    restore,
    restore_projection,
    state_key,
    written_versions,
)
from risk.engine import ACCEPTED, REJECTED
from risk.events import NOT_AN_OBJECT, Event, Rejection
from risk.records import Transition
from streams.codec import decode_event, encode_record
from streams.config import EngineConfig
from streams.inputs import BroadcastLog, Head, OwnSource, Record, earliest, order_of

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
        (see `streams.inputs.earliest`); a missing entry means nothing is known yet. Buffers
        only grow between runs, so a source drained during the run stays drained and only the
        taken source's head changes. Returns the number of records applied.
        """
        slots: list[tuple[str, tuple[str, int]]] = [
            (kind, (source.topic, self.partition)) for kind, source in self.sources.items()
        ]
        slots += [(event_type, key) for key, event_type in broadcast_types.items()]
        heads = [self._head(kind, key, broadcast) for kind, key in slots]
        waiting = [
            horizons.get(key) for (_, key), head in zip(slots, heads, strict=True) if not head
        ]
        applied = 0
        while applied < budget:
            chosen = earliest(heads, waiting)
            if not isinstance(chosen, Head):
                break
            index = heads.index(chosen)
            self._take(chosen)
            applied += 1
            kind, key = slots[index]
            heads[index] = self._head(kind, key, broadcast)
            if heads[index] is None:
                waiting.append(horizons.get(key))
        return applied

    def _head(self, kind: str, key: tuple[str, int], broadcast: BroadcastLog) -> Head | None:
        """The next record of one source, if it has one buffered."""
        own = self.sources.get(kind)
        if own is not None:
            record = own.head()
        else:
            record = broadcast.head(key, self.broadcast_cursors.setdefault(key, 0))
        return None if record is None else Head(order_of(record, kind), record, kind)

    def _take(self, head: Head) -> None:
        record, event_type = head.record, head.event_type
        own = self.sources.get(event_type)
        if own is not None:
            own.take()
        else:
            self.broadcast_cursors[(record.topic, record.partition)] = record.offset + 1
        self.apply(record, event_type, broadcast=own is None)

    def apply(self, record: Record, event_type: str, *, broadcast: bool) -> None:
        """Decode and apply one record; collect its transitions, dead letter and state."""
        output = self.output
        output.events += 1
        value = record.value
        event = Rejection(NOT_AN_OBJECT) if value is None else decode_event(value, event_type)
        outcome = self.engine.apply(event)
        reports = not broadcast or self.reports_broadcasts
        if reports:
            output.outcomes[(event_type, outcome.status)] += 1
        if outcome.status == REJECTED:
            reason = outcome.reason or ""
            if reports:
                output.rejects[reason] += 1
                output.dead_letters.append(DeadLetter(record, reason))
            return
        if outcome.status != ACCEPTED or isinstance(event, Rejection):
            return
        assert value is not None
        output.changelog[encode_key(state_key(event))] = value
        taken = time.monotonic()
        for transition in outcome.transitions:
            output.transitions.append(transition)
            output.taken_at.append(taken)
            count = int(transition.event_id.rsplit("#", 1)[1])
            output.changelog[encode_key((LEVEL, transition.margin_account))] = orjson.dumps(
                {"level": transition.to_level, "count": count}
            )

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
