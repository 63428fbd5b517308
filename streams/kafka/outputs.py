"""What one round owes Kafka, per partition: transitions, dead letters, changelog entries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final

import orjson

from risk.checkpoint import StateKey
from risk.records import Transition
from streams.codec import encode_record
from streams.kafka.inputs import Record

CURSOR_KEY: Final = orjson.dumps(["cursor"])
LEVEL: Final = "level"


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
    """What one round owes Kafka for one partition, published atomically by the worker."""

    transitions: list[Transition] = field(default_factory=list)
    taken_at: list[float] = field(default_factory=list)  # monotonic time, per transition
    dead_letters: list[DeadLetter] = field(default_factory=list)
    changelog: dict[bytes, bytes | None] = field(default_factory=dict)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejects: Counter[str] = field(default_factory=Counter)
    events: int = 0


def encode_key(key: StateKey) -> bytes:
    return orjson.dumps(list(key))


def transition_value(transition: Transition) -> bytes:
    """The record of SPEC §7, byte for byte what `riskmon replay` writes on a line."""
    return encode_record(transition.as_record()).encode()
