"""The worker on a real broker (issue: Kafka workers, tests a-c).

Each test publishes a random replay file (cross, isolated, hedge, inverse, closes, stale and
bad lines, instrument changes) with `riskmon publish --interval-ms`, so its order is
unambiguous, and compares the liquidation topic with the replay of the same file, computed per
partition (tests/streams/test_partitioned_replay.py pins how that differs from a whole-file
replay: only the `ts` of instrument-triggered records).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from streams.http.accounts import owning_partition
from tests.integration.conftest import launch
from tests.integration.kafka import (
    ROOT,
    Broker,
    Stack,
    WorkerProcess,
    records_by_event_id,
    wait_for,
)
from tests.integration.scenario import (
    Scenario,
    assert_dead_letters_match,
    assert_transitions_match,
    dead_letter_count,
    has_every_transition,
    transitions,
)

pytestmark = pytest.mark.integration
PARTITIONS = 4


def stack_for(broker: Broker, name: str, scenario: Scenario) -> Stack:
    return Stack(broker, name, PARTITIONS, extra={"RISKMON_CONFIG": str(scenario.config)})


def start_publishing(
    stack: Stack, scenario: Scenario, interval_ms: int, events: Path | None = None
) -> subprocess.Popen[str]:
    """`riskmon publish` of the scenario's events (or of `events`, a part of them)."""
    path = scenario.events if events is None else events
    command = [sys.executable, "-m", "streams.cli", "publish", str(path)]
    return subprocess.Popen(
        [*command, "--interval-ms", str(interval_ms)],
        env=stack.env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(publisher: subprocess.Popen[str]) -> None:
    _, errors = publisher.communicate(timeout=600)
    assert publisher.returncode == 0, errors


def wait_for_output(stack: Stack, scenario: Scenario, workers: list[WorkerProcess]) -> None:
    try:
        wait_for(lambda: has_every_transition(stack, scenario), 180, "every transition")
        wait_for(lambda: dead_letter_count(stack) >= len(scenario.dead_letters), 60, "dead letters")
    except AssertionError:
        by_id, _ = records_by_event_id(transitions(stack))
        missing = sorted(scenario.expected.keys() - by_id.keys())
        print(f"{len(missing)} of {len(scenario.expected)} missing, e.g. {missing[:5]}")
        for worker in workers:
            print(worker.health(), worker.log()[-3000:])
        raise


def test_a_published_file_gives_exactly_the_replay(broker: Broker, tmp_path: Path) -> None:
    scenario = Scenario.generate(tmp_path, seed=11, size=1500, partitions=PARTITIONS)
    stack = stack_for(broker, "equivalence", scenario)
    worker = WorkerProcess(stack, "w1", tmp_path).start()
    try:
        finish(start_publishing(stack, scenario, interval_ms=1))
        wait_for_output(stack, scenario, [worker])
        messages = assert_transitions_match(stack, scenario)
        assert len(messages) == len(scenario.expected)  # transactions: not even a duplicate
        assert_dead_letters_match(stack, scenario)
        tailed = stack.riskmon("tail", "--from-beginning", "--idle-exit", "3", timeout=120)
        assert tailed.returncode == 0, tailed.stderr
        printed = tailed.stdout.splitlines()
        assert sorted(printed) == sorted((m.value or b"").decode() for m in messages)
    finally:
        stopped = worker.stop()
    assert stopped == 0, worker.log()[-3000:]


def test_b_a_killed_worker_restarts_without_loss_or_contradiction(
    broker: Broker, tmp_path: Path
) -> None:
    scenario = Scenario.generate(tmp_path, seed=23, size=2500, partitions=PARTITIONS)
    stack = stack_for(broker, "crash", scenario)
    first = WorkerProcess(stack, "w1", tmp_path).start()
    publisher = start_publishing(stack, scenario, interval_ms=2)
    wait_for(lambda: (first.health() or {}).get("transitions_published", 0) > 40, 120, "progress")
    wait_for(lambda: "snapshot of" in first.log(), 120, "a snapshot")
    first.kill()
    killed_at = time.monotonic()
    second = WorkerProcess(stack, "w1", tmp_path).start()
    wait_for(lambda: bool((second.health() or {}).get("partitions")), 120, "restored", poll=0.1)
    recovery = time.monotonic() - killed_at
    print(f"recovery after kill -9: {recovery:.1f} s to a worker with restored partitions")
    restores = re.findall(r"read after (\d+) snapshots", second.log())
    assert restores, second.log()[-3000:]
    assert int(restores[-1]) >= 1  # the restart read snapshots, and the changelog after them
    try:
        finish(publisher)
        wait_for_output(stack, scenario, [second])
        messages = assert_transitions_match(stack, scenario)
        assert len(messages) == len(scenario.expected)
        assert_dead_letters_match(stack, scenario)
    finally:
        stopped = second.stop()
    assert stopped == 0, second.log()[-3000:]


def test_c_two_workers_split_the_partitions_and_one_takes_over(
    broker: Broker, tmp_path: Path
) -> None:
    scenario = Scenario.generate(tmp_path, seed=37, size=2500, partitions=PARTITIONS)
    stack = stack_for(broker, "rebalance", scenario)
    left, right = (WorkerProcess(stack, name, tmp_path).start() for name in ("w1", "w2"))
    try:
        wait_for(lambda: split_up(left, right), 120, "both workers to own partitions", poll=0.2)
        publisher = start_publishing(stack, scenario, interval_ms=2)
        wait_for(
            lambda: (right.health() or {}).get("transitions_published", 0) > 20, 120, "progress"
        )
        check_routing(stack, asking=left, owner=right)
        assert right.stop() == 0, right.log()[-3000:]
        wait_for(
            lambda: (left.health() or {}).get("partitions") == list(range(PARTITIONS)),
            120,
            "the remaining worker to own every partition",
            poll=0.2,
        )
        finish(publisher)
        wait_for_output(stack, scenario, [left, right])
        assert_transitions_match(stack, scenario)
        assert_dead_letters_match(stack, scenario)
    finally:
        stopped = left.stop()
    assert stopped == 0, left.log()[-3000:]


def test_c_a_stopped_worker_that_lost_its_partitions_is_fenced(
    broker: Broker, tmp_path: Path
) -> None:
    """KIP-447: a worker stopped (SIGSTOP) past its session loses its partitions; thawed, it
    must not commit offsets or records for them. Whatever it held open, the topic is the
    replay once, with no duplicate and no conflicting record."""
    scenario = Scenario.generate(tmp_path, seed=53, size=2500, partitions=PARTITIONS)
    stack = stack_for(broker, "zombie", scenario)
    left, right = (WorkerProcess(stack, name, tmp_path).start() for name in ("w1", "w2"))
    try:
        wait_for(lambda: split_up(left, right), 120, "both workers to own partitions", poll=0.2)
        publisher = start_publishing(stack, scenario, interval_ms=2)
        wait_for(
            lambda: (right.health() or {}).get("transitions_published", 0) > 20, 120, "progress"
        )
        right.freeze()
        try:
            wait_for(
                lambda: (left.health() or {}).get("partitions") == list(range(PARTITIONS)),
                120,
                "the running worker to take every partition",
                poll=0.2,
            )
        finally:
            right.thaw()
        wait_for(lambda: split_up(left, right), 120, "the thawed worker to rejoin", poll=0.2)
        finish(publisher)
        wait_for_output(stack, scenario, [left, right])
        messages = assert_transitions_match(stack, scenario)
        assert len(messages) == len(scenario.expected)  # no record twice, not even equal ones
        assert_dead_letters_match(stack, scenario)
        assert dead_letter_count(stack) == len(scenario.dead_letters)
    finally:
        stopped = [worker.stop() for worker in (left, right)]
    assert stopped == [0, 0], right.log()[-3000:]


def split_up(left: WorkerProcess, right: WorkerProcess) -> bool:
    """Both workers own partitions, and together every one."""
    owned = [set((worker.health() or {}).get("partitions", [])) for worker in (left, right)]
    return all(owned) and owned[0] | owned[1] == set(range(PARTITIONS))


def check_routing(stack: Stack, asking: WorkerProcess, owner: WorkerProcess) -> None:
    """An account of `owner` asked at `asking` is answered; the worst list spans both."""
    owned = set((owner.health() or {}).get("partitions", []))
    accounts = {json.loads(m.value or b"")["margin_account"] for m in transitions(stack)}
    theirs = sorted(a for a in accounts if owning_partition(a, PARTITIONS) in owned)
    assert theirs
    status, body = asking.get(f"/accounts/{theirs[0]}")
    assert (status, body["margin_account"]) == (200, theirs[0])
    status, body = asking.get("/accounts?level=safe&limit=1000")
    assert (status, body["complete"]) == (200, True)
    partitions = {
        owning_partition(account["margin_account"], PARTITIONS) for account in body["accounts"]
    }
    assert partitions & owned  # accounts of the other worker
    assert partitions - owned  # and of the one asked


def test_d_a_broker_restart_mid_stream_loses_nothing(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    broker = launch(Broker(tmp_path_factory.mktemp("kafka-restart")))
    try:
        scenario = Scenario.generate(tmp_path, seed=41, size=2000, partitions=PARTITIONS)
        stack = stack_for(broker, "restart", scenario)
        worker = WorkerProcess(stack, "w1", tmp_path).start()
        try:
            publisher = start_publishing(stack, scenario, interval_ms=2)
            wait_for(
                lambda: (worker.health() or {}).get("transitions_published", 0) > 30,
                120,
                "progress",
            )
            before = (worker.health() or {}).get("transitions_published", 0)
            broker.down()
            assert worker.process is not None
            assert worker.process.poll() is None  # the worker waits for the broker
            broker.up()
            finish(publisher)
            wait_for_output(stack, scenario, [worker])
            messages = assert_transitions_match(stack, scenario)
            assert len(messages) == len(scenario.expected)
            assert_dead_letters_match(stack, scenario)
            after = (worker.health() or {}).get("transitions_published", 0)
            assert after > before  # the same process went on after the restart
        finally:
            stopped = worker.stop()
        assert stopped == 0, worker.log()[-3000:]
    finally:
        broker.down()


def test_a_checkpoint_behind_the_log_start_stops_the_worker(broker: Broker, tmp_path: Path) -> None:
    """Input the worker never applied, dropped by retention while it was down: it must say
    so and stop, not resume from what is left with an incomplete state."""
    scenario = Scenario.generate(tmp_path, seed=3, size=300, partitions=PARTITIONS)
    stack = stack_for(broker, "retention", scenario)
    worker = WorkerProcess(stack, "w1", tmp_path).start()
    finish(start_publishing(stack, scenario, interval_ms=1))
    wait_for(lambda: has_every_transition(stack, scenario), 120, "every transition")
    assert worker.stop() == 0
    finish(start_publishing(stack, scenario, interval_ms=0))  # arrives while it is down
    dropped = asyncio.run(drop_all_records(stack, "positions"))
    assert dropped
    restarted = stack.riskmon("worker", timeout=120, worker_id="w1")
    assert restarted.returncode == 2
    last = restarted.stderr.strip().splitlines()[-1]
    assert last.startswith(f"riskmon: error: {stack.topic('positions')}[")
    assert last.endswith("retention dropped input this worker has not applied")


async def drop_all_records(stack: Stack, kind: str) -> dict[TopicPartition, int]:
    """Delete every record of a topic (as retention would); returns the new start offsets."""
    bootstrap = stack.broker.bootstrap
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        partitions = [TopicPartition(stack.topic(kind), p) for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(partitions)
        targets = {tp: RecordsToDelete(before_offset=end) for tp, end in ends.items() if end}
        starts: dict[TopicPartition, int] = await admin.delete_records(targets)
        return starts
    finally:
        await admin.close()
        await consumer.stop()


def test_a_busy_http_port_is_a_clear_error(broker: Broker) -> None:
    stack = Stack(broker, "busy-port", PARTITIONS)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = stack.riskmon("worker", timeout=120, worker_id="w1", web_port=port)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"riskmon: error: cannot serve HTTP on 127.0.0.1:{port}: ")
    )
    assert "Unclosed" not in result.stderr
