"""The liquidation topic through a Kafka client that is not ours (issue 13, item 7).

kcat (Debian's package, deploy/kcat/install.sh; librdkafka underneath) reads
`riskmon.liquidations` with `isolation.level=read_committed` after a worker was killed with
-9 mid-stream and restarted, and must find exactly the replay's records: the same count, no
duplicate, the same bytes, each margin account's records in order. The test also leaves one
aborted transaction of its own on the topic, so that read_committed has something to leave
out: kcat must show that record read_uncommitted and not read_committed.

Outside CI the test skips when kcat is missing; with CI=true it fails.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from tests.integration.kafka import Broker, Message, Stack, WorkerProcess, wait_for
from tests.integration.scenario import Scenario, assert_transitions_match
from tests.integration.test_workers import (
    PARTITIONS,
    finish,
    stack_for,
    start_publishing,
    wait_for_output,
)
from tests.tools import required_tool

pytestmark = pytest.mark.integration
ABORTED = b'{"event_id": "kcat-test#aborted", "margin_account": "kcat-test"}'


@pytest.fixture(scope="session")
def kcat() -> str:
    """kcat's path; skips (fails under CI) when it is not installed."""
    return required_tool("kcat", package="kcat")


def consume(kcat: str, stack: Stack, isolation: str) -> list[Message]:
    """Every record of the liquidation topic as kcat reads it, in partition and offset order."""
    topic = stack.topic("liquidations")
    command = [kcat, "-C", "-b", stack.broker.bootstrap, "-t", topic, "-e", "-q", "-J"]
    result = subprocess.run(
        [*command, "-X", f"isolation.level={isolation}"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    found = [envelope(json.loads(line)) for line in result.stdout.splitlines()]
    return sorted(found, key=lambda message: (message.partition, message.offset))


def envelope(document: dict[str, Any]) -> Message:
    """A `Message` from kcat's JSON envelope (headers: a flat list of names and values)."""
    key, payload = document["key"], document["payload"]
    pairs = document.get("headers") or []
    return Message(
        document["topic"],
        document["partition"],
        document["offset"],
        None if key is None else key.encode(),
        None if payload is None else payload.encode(),
        dict(zip(pairs[::2], pairs[1::2], strict=True)),
    )


async def abort_one(stack: Stack) -> None:
    """Write one record to the liquidation topic in a transaction, then abort it."""
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.broker.bootstrap, transactional_id=f"{stack.name}-kcat-test"
    )
    await producer.start()
    try:
        await producer.begin_transaction()
        await producer.send_and_wait(stack.topic("liquidations"), ABORTED, key=b"kcat-test")
        await producer.abort_transaction()
    finally:
        await producer.stop()


def run_with_a_kill(stack: Stack, scenario: Scenario, log_dir: Path) -> None:
    """Publish the scenario; kill -9 the worker mid-stream, restart it, wait for the output."""
    first = WorkerProcess(stack, "w1", log_dir).start()
    publisher = start_publishing(stack, scenario, interval_ms=2)
    wait_for(lambda: (first.health() or {}).get("transitions_published", 0) > 40, 120, "progress")
    first.kill()  # its open transaction is aborted when the restarted worker fences it
    second = WorkerProcess(stack, "w1", log_dir).start()
    try:
        finish(publisher)
        wait_for_output(stack, scenario, [second])
    finally:
        stopped = second.stop()
    assert stopped == 0, second.log()[-3000:]


def test_kcat_read_committed_finds_exactly_the_replay(
    kcat: str, broker: Broker, tmp_path: Path
) -> None:
    scenario = Scenario.generate(tmp_path, seed=53, size=1500, partitions=PARTITIONS)
    stack = stack_for(broker, "riskmon", scenario)
    assert stack.topic("liquidations") == "riskmon.liquidations"
    run_with_a_kill(stack, scenario, tmp_path)
    asyncio.run(abort_one(stack))
    committed = consume(kcat, stack, "read_committed")
    by_id = {json.loads(message.value or b"")["event_id"]: message for message in committed}
    assert len(committed) == len(by_id) == len(scenario.expected)  # not even a duplicate
    assert {key: (m.value or b"").decode() for key, m in by_id.items()} == scenario.expected
    assert all(m.key == json.loads(m.value or b"")["margin_account"].encode() for m in committed)
    assert committed == assert_transitions_match(stack, scenario)  # our client, in order
    uncommitted = consume(kcat, stack, "read_uncommitted")
    assert ABORTED in {message.value for message in uncommitted}
    assert ABORTED not in {message.value for message in committed}
    left_out = len(uncommitted) - len(committed)
    print(f"kcat read_committed left out {left_out} aborted records of {len(uncommitted)}")
