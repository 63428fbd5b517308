"""Broker-side helpers of the Kafka benchmarks (tests/bench/kafka_bench.py): the stack's
settings, publishing a backlog, the floors (a bare librdkafka consumer, one that also
decodes, a transactional copy) and the group's lag."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as AioPartition
from aiokafka.admin import AIOKafkaAdminClient
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streams.columns import decode_lines
from streams.kafka.client import ensure_topics
from streams.kafka.clients import FETCH_BATCH, FETCH_WAIT_MS
from streams.kafka.publish import Clock, route
from streams.settings import load_settings
from tests.integration.kafka import INPUT_KINDS, Stack


def settings_of(stack: Stack) -> Any:
    return load_settings({k: v for k, v in stack.env().items() if k.startswith("RISKMON_")})


async def publish_bulk(stack: Stack, lines: list[bytes]) -> None:
    settings = settings_of(stack)
    await ensure_topics(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.broker.bootstrap,
        acks="all",
        linger_ms=20,
        max_batch_size=1 << 20,
        enable_idempotence=True,
    )
    await producer.start()
    clock, pending = Clock(strict=False), []
    try:
        for line in lines:
            routed = route(line, settings)
            pending.append(
                await producer.send(
                    routed.topic, value=line, key=routed.key, timestamp_ms=clock.next()
                )
            )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds process `pid` has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def resident_bytes(pid: int) -> int:
    """Resident set size of process `pid` (Linux /proc), bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"no VmRSS for process {pid}")


def _input_consumer(stack: Stack, **extra: Any) -> Consumer:
    """A read-committed consumer of every input partition from its beginning."""
    consumer = Consumer(
        {
            "bootstrap.servers": stack.broker.bootstrap,
            "group.id": f"{stack.name}-floor-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": FETCH_WAIT_MS,
            **extra,
        }
    )
    metadata = consumer.list_topics(timeout=30)
    consumer.assign(
        [
            TopicPartition(stack.topic(kind), partition, OFFSET_BEGINNING)
            for kind in INPUT_KINDS
            for partition in metadata.topics[stack.topic(kind)].partitions
        ]
    )
    return consumer


def _types(stack: Stack) -> dict[str, str]:
    """Topic name -> the event type it carries ("marks" -> "mark")."""
    return {stack.topic(kind): kind.removesuffix("s") for kind in INPUT_KINDS}


def bare_read(stack: Stack, expected: int, decode: bool = False) -> float:
    """Seconds for a librdkafka consumer to read every input message once, in the worker's
    fetch batches; with `decode`, each batch's values also go through the worker's decoder
    into columns (`streams.columns.decode_lines`), per topic as the worker decodes them."""
    consumer, types = _input_consumer(stack), _types(stack)
    try:
        started, seen = time.perf_counter(), 0
        while seen < expected:
            messages = consumer.consume(FETCH_BATCH, 0.2)
            seen += sum(1 for message in messages if message.error() is None)
            if decode:
                by_topic: dict[str, list[bytes]] = {}
                for message in messages:
                    by_topic.setdefault(message.topic() or "", []).append(message.value() or b"")
                for topic, values in by_topic.items():
                    decode_lines(values, types[topic])
        return time.perf_counter() - started
    finally:
        consumer.close()


def transactional_copy(stack: Stack, expected: int) -> float:
    """Seconds to copy every input message to one topic in read-process-write transactions
    (one a fetch batch, offsets sent to the transaction as the worker sends them): the floor
    of exactly-once without an engine."""
    target = stack.topic("copy")
    admin = AdminClient({"bootstrap.servers": stack.broker.bootstrap})
    for future in admin.create_topics([NewTopic(target, 1, 1)]).values():
        future.result()
    consumer = _input_consumer(stack, **{"group.id": f"{stack.name}-copy"})
    producer = Producer(
        {
            "bootstrap.servers": stack.broker.bootstrap,
            "transactional.id": f"{stack.name}-copy",
            "linger.ms": 5,
        }
    )
    producer.init_transactions(30)
    try:
        started, seen = time.perf_counter(), 0
        while seen < expected:
            messages = [m for m in consumer.consume(FETCH_BATCH, 0.2) if m.error() is None]
            if not messages:
                continue
            producer.begin_transaction()
            for message in messages:
                producer.produce(target, message.value(), message.key())
                producer.poll(0)
            ends: dict[tuple[str, int], int] = {}
            for message in messages:
                where = (message.topic() or "", message.partition() or 0)
                ends[where] = (message.offset() or 0) + 1
            offsets = [TopicPartition(topic, p, offset) for (topic, p), offset in ends.items()]
            producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(30)
            seen += len(messages)
        return time.perf_counter() - started
    finally:
        consumer.close()


async def group_lag(stack: Stack) -> int:
    """Records of the account topics the worker's group has not committed yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.broker.bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.broker.bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(stack.name)
        tps = [
            AioPartition(stack.topic(kind), p)
            for kind in ("positions", "balances")
            for p in range(stack.partitions)
        ]
        ends = await consumer.end_offsets(tps)
        return sum(ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in tps)
    finally:
        await consumer.stop()
        await admin.close()
