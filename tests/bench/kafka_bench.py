"""Kafka worker benchmarks (issue: Kafka workers, part 7), on a real local broker.

    .venv/bin/python -m tests.bench.kafka_bench --write BENCHMARKS.md   (make bench)

(1)  Sustained input rate of one worker on 2 partitions over a backlog at 100k accounts, next
     to three floors measured on the same messages in the same run: a bare librdkafka
     consumer, one that also decodes into columns, and a transactional copy
     (read-process-write without an engine).
(1') The same on the default partition count (--partitions, 12).
(2)  Latency from a mark's produce time to its transition on the liquidation topic (read
     committed), with the input paced at 20,000 events/s, and at 5,000.
(3)  Recovery: a worker whose changelog holds 1M positions, from start to serving;
(4)  its resident memory then, in bytes a position.
(5)  Two workers on 4 partitions over the backlog of (1): aggregate rate, CPU a process.

The report replaces the section between the KAFKA markers of the file it writes.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.kafka.client import ensure_topics
from streams.kafka.partitioning import partition_of
from streams.kafka.publish import Clock, route
from streams.settings import Settings
from tests.bench.generate import write_stream
from tests.bench.kafka_report import END, START, section
from tests.bench.kafka_tools import (
    bare_read,
    cpu_seconds,
    group_lag,
    publish_bulk,
    resident_bytes,
    settings_of,
    transactional_copy,
)
from tests.bench.sections import bench_parser, publish
from tests.integration.kafka import Broker, Stack, WorkerProcess, wait_for

COMMAND: Final = ".venv/bin/python -m tests.bench.kafka_bench --write BENCHMARKS.md"
PARTITIONS = 12  # --partitions
EXTRA: dict[str, str] = {}  # worker settings from the command line
SNAPSHOTS: Final = Settings().snapshot_records  # the default: the bench runs as deployed


def serving(worker: WorkerProcess) -> bool:
    return bool((worker.health() or {}).get("partitions"))


def backlog(work: Path, events: int, accounts: int) -> tuple[list[bytes], dict[str, int]]:
    """The lines of `tests/bench/generate.py` for the throughput runs, and their kinds."""
    path = work / "throughput.jsonl"
    counts = write_stream(path, events=events, accounts=accounts)
    return [line for line in path.read_bytes().splitlines() if line.strip()], counts


def throughput(
    broker: Broker, work: Path, lines: list[bytes], partitions: int, *, workers: int, floors: bool
) -> dict[str, Any]:
    """`workers` worker processes started together over a published backlog on `partitions`
    partitions: the time from the first assignment to the group's offsets at the end, and
    each process's CPU in that time; with `floors`, the floors on the same messages first."""
    stack = Stack(broker, f"throughput-{partitions}-{workers}", partitions, dict(EXTRA), SNAPSHOTS)
    asyncio.run(publish_bulk(stack, lines))
    dead = sum(1 for line in lines if route(line, settings_of(stack)).topic == stack.topic("dlq"))
    on_inputs = len(lines) - dead
    measured: dict[str, float] = {}
    if floors:
        measured["bare"] = bare_read(stack, on_inputs)
        measured["decoding"] = bare_read(stack, on_inputs, decode=True)
        measured["copy"] = transactional_copy(stack, on_inputs)
    running = [WorkerProcess(stack, f"bench{n}", work).start() for n in range(workers)]
    try:
        # from the first assignment: workers started together, their rebalances included
        wait_for(lambda: any(serving(worker) for worker in running), 120, "assignment", 0.05)
        pids = [worker.process.pid for worker in running if worker.process is not None]
        started, cpu = time.perf_counter(), [cpu_seconds(pid) for pid in pids]
        wait_for(lambda: asyncio.run(group_lag(stack)) == 0, 3600, "the backlog", 0.25)
        elapsed = time.perf_counter() - started
        cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu, strict=True)]
    finally:
        for worker in running:
            worker.stop()
    return {
        "partitions": partitions,
        "workers": workers,
        "on_inputs": on_inputs,
        "worker_seconds": elapsed,
        "worker_rate": on_inputs / elapsed,
        "cpu_seconds": cpu,  # per worker process, all its threads
        "worker_cpu_us": sum(cpu) / on_inputs * 1e6,
        **{f"{name}_seconds": seconds for name, seconds in measured.items()},
        **{f"{name}_rate": on_inputs / seconds for name, seconds in measured.items()},
    }


async def paced_publish(
    stack: Stack, lines: list[bytes], rate: int, sent: dict[tuple[str, int], float]
) -> float:
    """Publish `lines` at `rate` a second (10 ms slices); marks' send times go to `sent`."""
    settings = settings_of(stack)
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.broker.bootstrap, acks="all", linger_ms=0, enable_idempotence=True
    )
    await producer.start()
    clock, pending, per_slice = Clock(strict=False), [], max(1, rate // 100)
    began = time.perf_counter()
    try:
        for start in range(0, len(lines), per_slice):
            slice_due = began + start / rate
            await asyncio.sleep(max(0.0, slice_due - time.perf_counter()))
            for line in lines[start : start + per_slice]:
                routed = route(line, settings)
                if routed.topic == stack.topic("marks"):
                    event = orjson.loads(line)
                    sent[(event["symbol"], int(event["ts"]))] = time.time() * 1000
                pending.append(
                    await producer.send(
                        routed.topic, value=line, key=routed.key, timestamp_ms=clock.next()
                    )
                )
        await asyncio.gather(*pending)
        return time.perf_counter() - began
    finally:
        await producer.stop()


async def collect_latencies(
    stack: Stack, sent: dict[tuple[str, int], float], latencies: list[float], stop: asyncio.Event
) -> None:
    consumer = AIOKafkaConsumer(
        stack.topic("liquidations"),
        bootstrap_servers=stack.broker.bootstrap,
        group_id=None,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=5,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            for records in (await consumer.getmany(timeout_ms=50)).values():
                now = time.time() * 1000
                for record in records:
                    transition = orjson.loads(record.value)
                    trigger = transition["trigger"]
                    if trigger.startswith("mark:"):
                        produced = sent.get((trigger[5:], transition["ts"]))
                        if produced is not None:
                            latencies.append(now - produced)
    finally:
        await consumer.stop()


def latency(broker: Broker, work: Path, events: int, accounts: int, rate: int) -> dict[str, Any]:
    path = work / "latency.jsonl"
    write_stream(path, events=events, accounts=accounts, seed=11)
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    stack = Stack(broker, f"latency-{rate}", PARTITIONS, dict(EXTRA), SNAPSHOTS)
    asyncio.run(ensure_topics(settings_of(stack)))
    worker = WorkerProcess(stack, "bench", work).start()
    sent: dict[tuple[str, int], float] = {}
    latencies: list[float] = []
    try:
        wait_for(lambda: serving(worker), 120, "assignment", 0.05)

        async def run() -> float:
            stop = asyncio.Event()
            collector = asyncio.create_task(collect_latencies(stack, sent, latencies, stop))
            seconds = await paced_publish(stack, lines, rate, sent)
            await asyncio.sleep(5)  # the tail of the stream reaches the topic
            stop.set()
            await collector
            return seconds

        seconds = asyncio.run(run())
        lag = asyncio.run(group_lag(stack))
    finally:
        worker.stop()
    ordered = sorted(latencies)
    return {
        "events": len(lines),
        "rate": len(lines) / seconds,
        "transitions": len(ordered),
        "p50": statistics.median(ordered) if ordered else None,
        "p99": ordered[int(0.99 * (len(ordered) - 1))] if ordered else None,
        "max": ordered[-1] if ordered else None,
        "lag_after": lag,
    }


async def write_changelog(stack: Stack, positions: int, *, accounts: int | None = None) -> int:
    """A changelog for `positions` positions in positions/2 cross accounts, every partition
    with its cursor at the (empty) inputs' start; only the first `accounts` accounts when
    given (entries again: a tail after a snapshot). Returns the records written."""
    settings = settings_of(stack)
    await ensure_topics(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.broker.bootstrap, acks="all", linger_ms=20, max_batch_size=1 << 20
    )
    await producer.start()
    pending, written = [], 0
    symbols = ("BTCUSDT", "ETHUSDT")
    try:
        for number in range(positions // 2 if accounts is None else accounts):
            account = f"acct{number:07d}"
            partition = partition_of(account.encode(), PARTITIONS)
            entries = [
                (
                    ["balance", account, "USDT"],
                    {"account": account, "asset": "USDT", "wallet": 5000, "ts": 1},
                )
            ]
            for index, symbol in enumerate(symbols):
                entries.append(
                    (
                        ["position", account, symbol, "both"],
                        {
                            "account": account,
                            "symbol": symbol,
                            "size": 0.01 * (1 + number % 7),
                            "entry_price": 60000.0 if index == 0 else 3000.0,
                            "ts": 2,
                        },
                    )
                )
            for key, value in entries:
                pending.append(
                    await producer.send(
                        stack.topic("changelog"),
                        key=orjson.dumps(key),
                        value=orjson.dumps(value),
                        partition=partition,
                    )
                )
                written += 1
            if len(pending) > 50_000:
                await asyncio.gather(*pending)
                pending.clear()
        for partition in range(PARTITIONS):
            cursor = {"inputs": {"position": 0, "balance": 0}, "broadcast": {}, "replay_time": 2}
            pending.append(
                await producer.send(
                    stack.topic("changelog"),
                    key=b'["cursor"]',
                    value=orjson.dumps(cursor),
                    partition=partition,
                )
            )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return written


def restored(worker: WorkerProcess) -> bool:
    health = worker.health() or {}
    return len(health.get("partitions", [])) == PARTITIONS and not health.get("restoring")


def recovery(broker: Broker, work: Path, positions: int) -> dict[str, Any]:
    """(3) and (4): a restore from the whole changelog, which then writes the snapshots, and
    a restore from those."""
    stack = Stack(broker, "recovery", PARTITIONS, {}, SNAPSHOTS)
    written = asyncio.run(write_changelog(stack, positions))
    # each partition's restore reads about written / PARTITIONS entries (some fewer): half of
    # that makes every partition's snapshot due after the first restore
    stack.snapshot_records = min(SNAPSHOTS, written // PARTITIONS // 2)
    full_seconds, _ = timed_restore(stack, work, snapshot=True)
    seconds, rss = timed_restore(stack, work, snapshot=False)
    # the snapshots, then a tail of half a snapshot interval a partition: an average restore
    tail = asyncio.run(
        write_changelog(stack, positions, accounts=stack.snapshot_records * PARTITIONS // 6)
    )
    tail_seconds, _ = timed_restore(stack, work, snapshot=False)
    return {
        "positions": positions,
        "records": written,
        "full_seconds": full_seconds,
        "seconds": seconds,
        "tail": tail,
        "tail_seconds": tail_seconds,
        "rss": rss,
    }


def timed_restore(stack: Stack, work: Path, *, snapshot: bool) -> tuple[float, int]:
    """Seconds from process start to every partition restored, and the RSS then; with
    `snapshot`, the worker runs on until its first transaction (the snapshots) commits."""
    worker = WorkerProcess(stack, "bench", work)
    started = time.perf_counter()
    worker.start()
    try:
        wait_for(lambda: restored(worker), 3600, "the restore", 0.1)
        elapsed = time.perf_counter() - started
        status, body = worker.get("/accounts/acct0000003/cross/USDT")
        assert status == 200, body
        assert len(body["positions"]) == 2, body
        assert worker.process is not None
        rss = resident_bytes(worker.process.pid)
        if snapshot:
            committed = lambda: (worker.health() or {}).get("rounds", 0) >= 1  # noqa: E731
            wait_for(committed, 600, "the snapshots", 0.2)
    finally:
        worker.stop()
    return elapsed, rss


def main(argv: list[str] | None = None) -> int:
    global PARTITIONS  # noqa: PLW0603 - one setting for the whole run
    parser = bench_parser(__doc__)
    parser.add_argument("--partitions", type=int, default=PARTITIONS, help="the default count")
    parser.add_argument("--only", choices=STEPS)
    parser.add_argument("--batch", type=int, help="RISKMON_MAX_BATCH_EVENTS for the worker")
    arguments = parser.parse_args(argv)
    PARTITIONS = arguments.partitions
    if arguments.batch:
        EXTRA["RISKMON_MAX_BATCH_EVENTS"] = str(arguments.batch)
    quick = arguments.quick
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        broker = Broker(work / "kafka")
        broker.extra_env = {"KAFKA_HEAP_OPTS": "-Xms1g -Xmx1g"}
        broker.up()
        try:
            results = run_steps(broker, work, quick, arguments.only)
        finally:
            broker.down()
    if arguments.only:
        return 0
    text = section(results, time.strftime("%Y-%m-%d"), PARTITIONS, COMMAND)
    publish(text, arguments.write, START, END)
    return 0


STEPS: Final = ("throughput", "default", "two_workers", "latency", "latency_5k", "recovery")


def run_steps(broker: Broker, work: Path, quick: bool, only: str | None) -> dict[str, Any]:
    """(1) on 2 partitions with the floors, (1') on the default count, (5) two workers on 4,
    (2) at 20,000 and 5,000 events/s, (3) and (4) on a restore; printed as they finish."""
    lines, counts = backlog(work, 20_000 if quick else 400_000, 2_000 if quick else 100_000)
    accounts = 2_000 if quick else 100_000
    paced = 5_000 if quick else 300_000
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "throughput": lambda: throughput(broker, work, lines, 2, workers=1, floors=True),
        "default": lambda: throughput(broker, work, lines, PARTITIONS, workers=1, floors=False),
        "two_workers": lambda: throughput(broker, work, lines, 4, workers=2, floors=False),
        "latency": lambda: latency(broker, work, paced, accounts, 20_000),
        "latency_5k": lambda: latency(broker, work, paced, accounts, 5_000),
        "recovery": lambda: recovery(broker, work, 10_000 if quick else 1_000_000),
    }
    results: dict[str, Any] = {"lines": len(lines), "kinds": counts, "accounts": accounts}
    for name, step in steps.items():
        if only not in (None, name):
            continue
        began = time.perf_counter()
        results[name] = step()
        print(name, json.dumps(results[name]), f"({time.perf_counter() - began:.0f} s)", flush=True)
    return results


if __name__ == "__main__":
    raise SystemExit(main())
