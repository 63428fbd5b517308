"""What one round owes Kafka, per partition: transitions, dead letters, changelog entries."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

import orjson
from confluent_kafka import Producer, TopicPartition
from prometheus_client import Histogram

from risk.checkpoint import StateKey
from risk.records import Transition
from streams.codec import encode_record
from streams.kafka.inputs import OwnSource, Record
from streams.kafka.reconciling import Sweeper
from streams.settings import Topics

CURSOR_KEY: Final = orjson.dumps(["cursor"])
LEVEL: Final = "level"


@dataclass(frozen=True)
class DeadLetter:
    """A rejected message, forwarded unchanged with where it came from and why."""

    record: Record
    reason: str

    def headers(self) -> list[tuple[str, str | bytes | None]]:
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


class Tally:
    """What a process has published, as its metrics read it (`streams.observability.metrics`'
    `Source`): event outcomes, rejects by reason, level transitions, and the reconciliation
    sweep's repairs and age (`streams.kafka.reconciling`)."""

    def __init__(self) -> None:
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.rejects: Counter[str] = Counter()
        self.level_transitions: Counter[tuple[str, str]] = Counter()
        self.transitions_published = 0
        self.sweeper = Sweeper()

    @property
    def reconciliation_drift(self) -> int:
        return self.sweeper.drift_total

    def reconciliation_age(self) -> float:
        return self.sweeper.age()

    def count_published(self, output: Output, evaluation: Histogram) -> None:
        """Count a published output; each transition's evaluation time (from its input
        being taken to its record being published, seconds) goes to `evaluation`."""
        published = time.monotonic()
        self.outcomes.update(output.outcomes)
        self.rejects.update(output.rejects)
        self.transitions_published += len(output.transitions)
        for transition, taken in zip(output.transitions, output.taken_at, strict=True):
            self.level_transitions[(transition.from_level, transition.to_level)] += 1
            trigger = transition.trigger.split(":", 1)[0]
            evaluation.labels(trigger).observe(published - taken)


def encode_key(key: StateKey) -> bytes:
    return orjson.dumps(list(key))


def transition_value(transition: Transition) -> bytes:
    """The record of SPEC §7, byte for byte what `riskmon replay` writes on a line."""
    return encode_record(transition.as_record()).encode()


def produce_outputs(
    producer: Producer, topics: Topics, outputs: list[tuple[int, dict[str, OwnSource], Output]]
) -> list[TopicPartition]:
    """Queue a round's records in the open transaction (librdkafka sends them from its own
    threads); the input offsets they cover, to commit with them."""
    offsets: list[TopicPartition] = []
    for partition, sources, output in outputs:
        for transition in output.transitions:
            producer.produce(
                topics.liquidations,
                key=transition.margin_account.encode(),
                value=transition_value(transition),
            )
        for letter in output.dead_letters:
            producer.produce(
                topics.dlq,
                key=letter.record.key,
                value=letter.record.value,
                headers=letter.headers(),
            )
        for key, value in output.changelog.items():
            producer.produce(topics.changelog, key=key, value=value, partition=partition)
        for source in sources.values():
            offsets.append(TopicPartition(source.topic, partition, source.next_offset))
    return offsets
