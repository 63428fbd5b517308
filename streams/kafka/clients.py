"""The worker's Kafka clients (librdkafka): its two consumers, its transactional producer,
what a fetch hands over, and `EndWatch`, each input partition's last stable offset with the
wall-clock time just before it was asked, which is what a drained partition vouches for
(docs/STREAMS.md, "Merge order").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Final

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec

from streams.kafka.client import BrokerError
from streams.kafka.inputs import Record
from streams.kafka.librdkafka import REQUEST_TIMEOUT_SECONDS, as_record, options
from streams.kafka.routing import member_client_id
from streams.settings import Settings

log = logging.getLogger("riskmon.worker")

FETCH_WAIT_MS: Final = 20  # an idle partition is re-polled this often
FETCH_BATCH: Final = 50_000  # messages taken from a consumer's queue at once
SESSION_TIMEOUT_MS: Final = 10_000
RETRY_SECONDS: Final = 0.5
# A worker stopped inside a transaction holds back its partitions' next owner (KIP-447: the
# owner's offset fetch waits for it) until the coordinator aborts it after this long.
TRANSACTION_TIMEOUT_MS: Final = 10_000
READING: Final = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "isolation.level": "read_committed",
    "auto.offset.reset": "earliest",
    "fetch.wait.max.ms": FETCH_WAIT_MS,
}


class ConsumerFencedError(Exception):
    """The group consumer died of a fatal error (a static member fenced by the broker)."""


class Fences:
    """Fences of a worker's group consumer in the last `WINDOW_SECONDS`.

    A static member is fenced when a JoinGroup with its instance id arrives under another
    member id: a second worker with the same id, or its own rejoin racing a restarted
    coordinator. Only the first repeats, so `ALLOWED` of them in the window are an error.
    """

    ALLOWED: Final = 3
    WINDOW_SECONDS: Final = 120.0

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self.times: list[float] = []

    def count(self, reason: str) -> None:
        """Count a fence; BrokerError when it makes `ALLOWED` in the window."""
        now = time.monotonic()
        self.times = [at for at in self.times if now - at < self.WINDOW_SECONDS] + [now]
        if len(self.times) >= self.ALLOWED:
            raise BrokerError(
                f"the group consumer was fenced {len(self.times)} times in "
                f"{self.WINDOW_SECONDS:.0f} s ({reason}): another worker runs with worker id "
                f"{self.worker_id!r} (RISKMON_WORKER_ID must be unique per worker)"
            )


def group_consumer(settings: Settings) -> Consumer:
    """The consumer of the account topics, a static member of the worker's group."""
    return Consumer(
        options(
            settings,
            **READING,
            **{
                "group.id": settings.group_id,
                "group.instance.id": settings.worker_id,  # a restart keeps its partitions
                "client.id": member_client_id(settings),
                "partition.assignment.strategy": "range",
                "session.timeout.ms": SESSION_TIMEOUT_MS,
            },
        )
    )


def broadcast_consumer(settings: Settings) -> Consumer:
    """Assigned, never subscribed: the group id is only a name librdkafka requires."""
    return Consumer(options(settings, **READING, **{"group.id": f"{settings.group_id}-broadcast"}))


def assign_broadcast(consumer: Consumer, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of every broadcast topic, paused until a restore seeks it (blocking)."""
    metadata = consumer.list_topics(timeout=REQUEST_TIMEOUT_SECONDS)
    partitions = []
    for topic in topics:
        found = metadata.topics.get(topic)
        if found is None or not found.partitions:
            raise KafkaException(
                KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART, f"topic {topic} does not exist")
            )
        for partition in sorted(found.partitions):
            partitions.append(TopicPartition(topic, partition, OFFSET_BEGINNING))
    consumer.assign(partitions)
    consumer.pause(partitions)
    return partitions


def take(consumer: Consumer) -> dict[tuple[str, int], list[Record]]:
    """What the consumer holds, by (topic, partition) in offset order (rebalance callbacks run
    in here). A fatal error raises `ConsumerFencedError`; others are logged (librdkafka retries)."""
    grouped: dict[tuple[str, int], list[Record]] = {}
    for message in consumer.consume(FETCH_BATCH, 0):
        error = message.error()
        if error is not None:
            if error.fatal() or error.code() in (KafkaError._FATAL, KafkaError._FENCED):
                raise ConsumerFencedError(error.str())
            log.warning("Kafka consumer: %s", error.str())
            continue
        record = as_record(message)
        grouped.setdefault((record.topic, record.partition), []).append(record)
    return grouped


def transactional_producer(settings: Settings) -> Producer:
    """The worker's producer: idempotent, transactional under the worker's own id."""
    return Producer(
        options(
            settings,
            **{
                "transactional.id": settings.transactional_id,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 2,
                "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
                "queue.buffering.max.messages": 2_000_000,
                "queue.buffering.max.kbytes": 2_097_151,
                # Brokers that verify transactional produce (Kafka 3.6+, KIP-890) answer the
                # first write of a transaction with a retriable error while the previous one is
                # still being completed; a long backoff would then pace every round.
                "retry.backoff.ms": 5,
            },
        )
    )


def discard(producer: Producer) -> None:
    """Drop a producer's queued and in-flight records (its transaction is given up)."""
    try:
        producer.purge(in_queue=True, in_flight=True, blocking=False)
        producer.flush(0)
    except (KafkaException, RuntimeError) as error:
        log.warning("discarding the producer: %s", error)


class EndWatch:
    """The last stable offsets of a set of partitions, asked again whenever a round looks.

    `stamp` is the wall clock (ms) taken before the request went out: every record committed
    before it lies below the answer's offset, so a partition whose consumer position has
    reached that offset holds nothing committed before `stamp`.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.admin = AdminClient(options(settings))
        self.stamp: int | None = None
        self.ends: dict[tuple[str, int], int] = {}
        self.asking: asyncio.Task[None] | None = None
        self.retry_at = 0.0

    def refresh(self, keys: Iterable[tuple[str, int]]) -> None:
        """Start another request if none is in flight; its answer replaces the current one."""
        wanted = sorted(keys)
        if self.asking is not None and not self.asking.done():
            return
        if self.asking is not None and self.asking.exception() is not None:
            self.asking = None
            self.stamp = None  # a failed request vouches for nothing
            self.retry_at = time.monotonic() + RETRY_SECONDS
            # librdkafka's admin client keeps a leader epoch a restarted broker fences
            # (FENCED_LEADER_EPOCH on every retry): a new client asks afresh.
            self.admin = AdminClient(options(self.settings))
        if wanted and time.monotonic() >= self.retry_at:
            self.asking = asyncio.create_task(self._ask(wanted))

    async def _ask(self, keys: list[tuple[str, int]]) -> None:
        stamp = time.time_ns() // 1_000_000
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        asked = {TopicPartition(topic, partition): latest for topic, partition in keys}
        futures = self.admin.list_offsets(
            asked,
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=REQUEST_TIMEOUT_SECONDS,
        )
        ends = {}
        for tp, future in futures.items():
            result = await asyncio.wrap_future(future)
            ends[(tp.topic, tp.partition)] = int(result.offset)
        self.ends, self.stamp = ends, stamp

    def close(self) -> None:
        if self.asking is not None:
            self.asking.cancel()
