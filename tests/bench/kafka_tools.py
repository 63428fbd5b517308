"""Broker-side helpers of the Kafka benchmarks (tests/bench/kafka_bench.py): the stack's
settings, publishing a backlog, a bare consumer for the floor, and the group's lag."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.kafka.client import ensure_topics
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


async def bare_read(stack: Stack, expected: int) -> float:
    """Seconds for a group-less consumer to read every input message once."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.broker.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [
            TopicPartition(stack.topic(kind), p)
            for kind in INPUT_KINDS
            for p in consumer.partitions_for_topic(stack.topic(kind)) or ()
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        started, seen = time.perf_counter(), 0
        while seen < expected:
            for records in (await consumer.getmany(timeout_ms=200, max_records=10_000)).values():
                seen += len(records)
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def group_lag(stack: Stack) -> int:
    """Records of the account topics the worker's group has not committed yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.broker.bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.broker.bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(stack.name)
        tps = [
            TopicPartition(stack.topic(kind), p)
            for kind in ("positions", "balances")
            for p in range(stack.partitions)
        ]
        ends = await consumer.end_offsets(tps)
        return sum(ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in tps)
    finally:
        await consumer.stop()
        await admin.close()
