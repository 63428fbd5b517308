"""The long-running commands: `riskmon worker` and `riskmon tail`."""

from __future__ import annotations

import asyncio
import signal
import ssl
import sys

from aiokafka import AIOKafkaConsumer

from streams.config import EngineConfig
from streams.http.web import start_web
from streams.kafka.client import (
    check_credentials,
    client_options,
    ensure_topics,
    retrying,
    translated,
)
from streams.kafka.projections import aggregate_forever
from streams.kafka.worker import Worker
from streams.pipes import silence_stdout
from streams.settings import Settings, SettingsError


def stop_on_signals(stopping: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopping.set)


async def run_worker(settings: Settings, config: EngineConfig) -> None:
    """Create missing topics, serve HTTP and process until SIGINT or SIGTERM."""
    stopping = asyncio.Event()
    stop_on_signals(stopping)
    await retrying(lambda: ensure_topics(settings), seconds=30)
    if stopping.is_set():
        return
    worker = Worker(settings, config)
    try:
        web = await start_web(worker, settings.web_host, settings.web_port, settings.web_access)
    except ssl.SSLError as error:
        await worker.stop()
        raise SettingsError(
            f"cannot serve HTTPS with RISKMON_WEB_TLS_CERTFILE / RISKMON_WEB_TLS_KEYFILE: {error}"
        ) from None
    except OSError as error:
        await worker.stop()
        raise SettingsError(
            f"cannot serve HTTP on {settings.web_host}:{settings.web_port}: "
            f"{error.strerror or error} (RISKMON_WEB_HOST / RISKMON_WEB_PORT)"
        ) from None
    fund = aggregate_forever(worker, worker.fund, stopping, settings.web_access)
    aggregating = asyncio.create_task(fund)
    try:
        await worker.run(stopping)
    finally:
        aggregating.cancel()
        await web.cleanup()


async def tail(
    settings: Settings, topic: str, from_beginning: bool, idle_exit: float | None
) -> None:
    """Print committed records of `topic`, one value per line, until a signal or idle time."""
    stopping = asyncio.Event()
    stop_on_signals(stopping)
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(settings),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    await check_credentials(settings)
    await translated(settings, consumer.start())
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    try:
        while not stopping.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            try:
                for records in batches.values():
                    for record in records:
                        sys.stdout.write((record.value or b"null").decode() + "\n")
                if batches:
                    sys.stdout.flush()
            except BrokenPipeError:  # `riskmon tail | head`: the reader has what it wanted
                silence_stdout()
                break
            if batches:
                quiet_since = loop.time()
            elif idle_exit is not None and loop.time() - quiet_since > idle_exit:
                break
    finally:
        await consumer.stop()
