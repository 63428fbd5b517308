"""confluent-kafka (librdkafka) at the edge: client options from settings, the errors clients
raise translated into `BrokerError`, and what the worker's clients share
(`streams.kafka.clients`).

- `read_latest`: the latest committed value of every key of some changelog partitions, read in
  a thread (librdkafka fetches in its own threads and releases the interpreter).
- `blocking`: a blocking call in a thread of its own, with a timeout that holds.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeVar

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from streams.kafka.client import BrokerError
from streams.kafka.inputs import MemoryRecord
from streams.settings import Settings

T = TypeVar("T")

READ_BATCH: Final = 10_000
READ_POLL_SECONDS: Final = 0.2
REQUEST_TIMEOUT_SECONDS: Final = 30.0


def options(settings: Settings, **extra: Any) -> dict[str, Any]:
    """librdkafka properties for the bootstrap servers, SASL and TLS, plus `extra`."""
    security = settings.security
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "security.protocol": security.protocol,
        "client.id": f"riskmon-{settings.worker_id}",
        "log_level": 3,  # errors only: librdkafka's warnings repeat what BrokerError says
    }
    if security.protocol.startswith("SASL"):
        config["sasl.mechanism"] = security.sasl_mechanism
        config["sasl.username"] = security.sasl_username or ""
        config["sasl.password"] = security.sasl_password or ""
    if security.protocol.endswith("SSL"):
        files = {
            "ssl.ca.location": security.ssl_cafile,
            "ssl.certificate.location": security.ssl_certfile,
            "ssl.key.location": security.ssl_keyfile,
            "ssl.key.password": security.ssl_key_password,
        }
        config.update({name: str(value) for name, value in files.items() if value is not None})
        config["ssl.endpoint.identification.algorithm"] = (
            "https" if security.ssl_check_hostname else "none"
        )
    config.update(extra)
    return config


def kafka_error(error: BaseException) -> KafkaError | None:
    """The KafkaError a confluent-kafka exception carries, if any."""
    if isinstance(error, KafkaException) and error.args and isinstance(error.args[0], KafkaError):
        return error.args[0]
    return None


def explain(error: BaseException, settings: Settings) -> str:
    """An operator's reading of a librdkafka error."""
    where = settings.bootstrap_servers
    found = kafka_error(error)
    if found is None:
        return f"Kafka at {where}: {error.__class__.__name__}: {error}"
    if found.code() == KafkaError._AUTHENTICATION:
        return (
            f"authentication failed at {where} for user "
            f"{settings.security.sasl_username!r} ({settings.security.sasl_mechanism}): "
            f"{found.str()}: check RISKMON_SASL_USERNAME / RISKMON_SASL_PASSWORD"
        )
    if found.code() == KafkaError._SSL:
        return f"TLS handshake with {where} failed: {found.str()}"
    return f"Kafka at {where}: {found.name()}: {found.str()}"


def translate(error: BaseException, settings: Settings) -> BrokerError:
    failure = BrokerError(explain(error, settings))
    failure.__cause__ = error
    return failure


def retriable(error: BaseException) -> bool:
    """True for a failure that may pass when tried again (a timeout, a broker moving)."""
    found = kafka_error(error)
    return found is not None and (found.retriable() or found.code() == KafkaError._TIMED_OUT)


async def blocking(call: Callable[..., T], *arguments: Any, timeout: float) -> T:
    """Run a blocking librdkafka call in a thread of its own; TimeoutError after `timeout` s.

    Not the default executor: `send_offsets_to_transaction` can block past its own timeout
    when the group coordinator goes away (librdkafka issues #5456 and #5511). A call given up
    on keeps its daemon thread until librdkafka returns, without starving other calls.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result = call(*arguments)
        except BaseException as error:  # handed to the awaiting coroutine
            loop.call_soon_threadsafe(settle, None, error)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=work, name=f"librdkafka-{call.__name__}", daemon=True).start()
    return await asyncio.wait_for(done, timeout)


async def until_stopped(call: asyncio.Future[Any], stopping: asyncio.Event) -> bool:
    """Wait for `call` or for `stopping`; False (the call left running) when stopping came
    first."""
    stopped = asyncio.ensure_future(stopping.wait())
    done, _ = await asyncio.wait({call, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    return call in done


def high_watermark(consumer: Consumer, topic: str, partition: int) -> int:
    """The high watermark of a partition, asked of its leader now (blocking)."""
    tp = TopicPartition(topic, partition)
    return int(consumer.get_watermark_offsets(tp, REQUEST_TIMEOUT_SECONDS, False)[1])


def as_record(message: Message) -> MemoryRecord:
    """A fetched message as the worker's `Record` (topic, partition, offset, timestamp, ...)."""
    return MemoryRecord(
        message.topic() or "",
        message.partition() or 0,
        message.offset() or 0,
        message.timestamp()[1],
        message.key(),
        message.value(),
    )


def read_latest(
    settings: Settings,
    topic: str,
    partitions: Iterable[int],
    starts: Mapping[int, int] | None = None,
) -> dict[int, dict[bytes, bytes | None]]:
    """The latest committed value of every key of `topic`'s `partitions`, up to each
    partition's high watermark when the reading began: read committed, a position passes a
    transaction still open there only once it ends. Blocking.

    A partition is read from its beginning, where a deleted key (a None value) is left out,
    or from `starts[partition]` on, where it stays as None: it deletes what came before.
    """
    starts = starts or {}
    latest: dict[int, dict[bytes, bytes | None]] = {partition: {} for partition in partitions}
    consumer = Consumer(
        options(
            settings,
            **{"group.id": f"{settings.group_id}-restore", "enable.auto.commit": False},
            **{"isolation.level": "read_committed", "enable.partition.eof": False},
        )
    )
    try:
        ends = {}
        for partition in latest:
            tp = TopicPartition(topic, partition)
            low, high = consumer.get_watermark_offsets(tp, timeout=REQUEST_TIMEOUT_SECONDS)
            if high > max(low, starts.get(partition, low)):
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, starts.get(p, OFFSET_BEGINNING)) for p in ends])
        while ends:
            for message in consumer.consume(READ_BATCH, READ_POLL_SECONDS):
                if message.error() is not None:
                    raise KafkaException(message.error())
                partition = message.partition() or 0
                _keep(latest[partition], message, deletions=partition in starts)
            positions = consumer.position([TopicPartition(topic, partition) for partition in ends])
            for tp in positions:
                if tp.offset >= ends[tp.partition]:
                    del ends[tp.partition]
    except KafkaException as error:
        raise translate(error, settings) from error
    finally:
        consumer.close()
    return latest


def _keep(entries: dict[bytes, bytes | None], message: Message, *, deletions: bool) -> None:
    key, value = message.key(), message.value()
    if key is None:
        return
    if value is None and not deletions:
        entries.pop(key, None)
    else:
        entries[key] = value
