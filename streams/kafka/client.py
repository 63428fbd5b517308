"""aiokafka at the edge of the tools: client options from settings, topic set-up, credential
checks and whole-topic reads (`riskmon publish`, `riskmon tail`, the tests), with broker errors
translated into `BrokerError` with a message an operator can act on. The worker's own clients
are librdkafka's (`streams.kafka.librdkafka`).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import create_conn
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAlreadyExistsError,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context

from streams.settings import Settings

T = TypeVar("T")

# Broadcast inputs are few and small: every worker reads all of them (docs/STREAMS.md).
BROADCAST_TYPES: Final = ("instrument", "mark", "fund", "depth")
ACCOUNT_TYPES: Final = ("position", "balance")
COMPACTED: Final = {"cleanup.policy": "compact", "min.compaction.lag.ms": "86400000"}


class BrokerError(Exception):
    """The broker cannot be used as configured; one line for the operator."""


def client_options(settings: Settings) -> dict[str, Any]:
    """Connection and security options shared by every aiokafka client."""
    security = settings.security
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": security.protocol,
        "client_id": f"riskmon-{settings.worker_id}",
    }
    if security.protocol.startswith("SASL"):
        options["sasl_mechanism"] = security.sasl_mechanism
        options["sasl_plain_username"] = security.sasl_username
        options["sasl_plain_password"] = security.sasl_password
    if security.protocol.endswith("SSL"):
        options["ssl_context"] = tls_context(settings)
    return options


def tls_context(settings: Settings) -> ssl.SSLContext:
    security = settings.security
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=security.ssl_cafile,
            certfile=security.ssl_certfile,
            keyfile=security.ssl_keyfile,
            password=security.ssl_key_password,
        )
    except (OSError, ssl.SSLError) as error:
        raise BrokerError(f"cannot load TLS files: {error}") from None
    context.check_hostname = security.ssl_check_hostname
    return context


def explain(error: BaseException, settings: Settings) -> str:
    """An operator's reading of a client error."""
    where = settings.bootstrap_servers
    if isinstance(error, SaslAuthenticationFailed):
        return (
            f"authentication failed at {where} for user "
            f"{settings.security.sasl_username!r} ({settings.security.sasl_mechanism}): "
            "check RISKMON_SASL_USERNAME / RISKMON_SASL_PASSWORD"
        )
    if isinstance(error, UnsupportedSaslMechanismError):
        return f"{where} does not offer SASL mechanism {settings.security.sasl_mechanism}"
    if isinstance(error, KafkaConnectionError):
        return f"cannot connect to Kafka at {where}: {error}"
    if isinstance(error, ssl.SSLError):
        return f"TLS handshake with {where} failed: {error}"
    return f"Kafka at {where}: {error.__class__.__name__}: {error}"


async def translated(settings: Settings, action: Awaitable[T]) -> T:
    """Await `action`, turning client errors into `BrokerError`."""
    try:
        return await action
    except (KafkaError, ssl.SSLError, OSError) as error:
        raise BrokerError(explain(error, settings)) from error


async def check_credentials(settings: Settings) -> None:
    """Connect to the bootstrap servers once, so refused credentials fail fast and clearly.

    aiokafka's clients log an authentication failure and report only that they could not
    bootstrap; a direct connection raises the broker's own answer instead.
    """
    options = client_options(settings)
    options.pop("bootstrap_servers")
    last: BaseException | None = None
    for server in settings.bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            connection = await create_conn(host.strip("[]"), int(port), **options)
        except (SaslAuthenticationFailed, UnsupportedSaslMechanismError, ssl.SSLError) as error:
            raise BrokerError(explain(error, settings)) from error
        except (TimeoutError, KafkaError, OSError, ValueError) as error:
            last = error
            continue
        connection.close()
        return
    unreachable = KafkaConnectionError(f"no bootstrap server answered ({last})")
    raise BrokerError(explain(unreachable, settings)) from unreachable


@asynccontextmanager
async def admin_client(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    await check_credentials(settings)
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=15000)
    await translated(settings, admin.start())
    try:
        yield admin
    finally:
        await admin.close()


def topic_plan(settings: Settings) -> list[NewTopic]:
    """Every topic riskmon reads or writes, with the partitions and configs it expects.

    Accounts' topics, the changelog and the snapshots share the partition count: task p of a
    worker owns partition p of positions, balances, the changelog and the snapshots.
    """
    topics, count, replicas = settings.topics, settings.partitions, settings.replication_factor
    by_type = topics.by_type()
    plan = [NewTopic(by_type[kind], count, replicas) for kind in ACCOUNT_TYPES]
    plan += [
        NewTopic(name, count, replicas, topic_configs=COMPACTED)
        for name in (topics.changelog, topics.snapshots)
    ]
    plan += [NewTopic(by_type[kind], 1, replicas) for kind in BROADCAST_TYPES]
    plan += [NewTopic(name, count, replicas) for name in (topics.liquidations, topics.dlq)]
    plan += [NewTopic(topics.projections, 1, replicas, topic_configs=COMPACTED)]
    return plan


async def ensure_topics(settings: Settings) -> None:
    """Create missing topics; refuse account topics whose partition counts differ."""
    async with admin_client(settings) as admin:
        for topic in topic_plan(settings):
            try:
                await translated(settings, admin.create_topics([topic]))
            except BrokerError as error:
                if not isinstance(error.__cause__, TopicAlreadyExistsError):
                    raise
        await check_copartitioned(settings, admin)


async def check_copartitioned(settings: Settings, admin: AIOKafkaAdminClient) -> None:
    topics = settings.topics
    names = [topics.positions, topics.balances, topics.changelog, topics.snapshots]
    for _ in range(20):  # a topic another worker created a moment ago may show no partitions
        described = await translated(settings, admin.describe_topics(names))
        counts = {item["topic"]: len(item["partitions"]) for item in described}
        if all(counts.get(name) for name in names):
            break
        await asyncio.sleep(0.5)
    if len(set(counts.values())) != 1 or not all(counts.get(name) for name in names):
        listed = ", ".join(f"{name}: {counts.get(name)}" for name in names)
        raise BrokerError(f"account topics must have equal partition counts ({listed})")


async def retrying(attempt: Callable[[], Awaitable[T]], *, seconds: float) -> T:
    """Retry a connection-level failure for up to `seconds` (a broker that is starting)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            return await attempt()
        except BrokerError as error:
            if not isinstance(error.__cause__, KafkaConnectionError):
                raise
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def read_committed(
    settings: Settings, topic: str, partitions: list[int] | None = None
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every committed record of `topic` (or of some of its partitions), oldest first per
    partition, up to the end each partition had when the reading began."""
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await translated(settings, consumer.start())
    try:
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = sorted(consumer.partitions_for_topic(topic) or ())
        tps = [TopicPartition(topic, partition) for partition in partitions]
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
        while remaining:
            for records in (await consumer.getmany(*remaining, timeout_ms=500)).values():
                for record in records:
                    yield record
            remaining = [tp for tp in remaining if await consumer.position(tp) < ends[tp]]
    finally:
        await consumer.stop()
