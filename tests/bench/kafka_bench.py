"""Kafka worker benchmarks (issue: Kafka workers, part 7), on a real local broker.

    .venv/bin/python -m tests.bench.kafka_bench --write BENCHMARKS.md   (make bench)

(1) Sustained input rate of one worker over a backlog at 100k accounts, next to three floors
    measured on the same messages in the same run: a bare librdkafka consumer, one that also
    decodes into columns, and a transactional copy (read-process-write without an engine).
(2) Latency from a mark's produce time to its transition on the liquidation topic (read
    committed), with the input paced at 5,000 events/s.
(3) Recovery: a worker whose changelog holds 1M positions, from start to serving.

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
from tests.bench.generate import write_stream
from tests.bench.kafka_tools import (
    bare_read,
    group_lag,
    publish_bulk,
    settings_of,
    transactional_copy,
)
from tests.bench.sections import bench_parser, publish
from tests.integration.kafka import Broker, Stack, WorkerProcess, wait_for

START: Final = "<!-- KAFKA:START -->"
END: Final = "<!-- KAFKA:END -->"
COMMAND: Final = ".venv/bin/python -m tests.bench.kafka_bench --write BENCHMARKS.md"
PARTITIONS = 12  # --partitions
EXTRA: dict[str, str] = {}  # worker settings from the command line


def throughput(broker: Broker, work: Path, events: int, accounts: int) -> dict[str, Any]:
    path = work / "throughput.jsonl"
    counts = write_stream(path, events=events, accounts=accounts)
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    stack = Stack(broker, "throughput", PARTITIONS, extra=dict(EXTRA))
    asyncio.run(publish_bulk(stack, lines))
    dead = sum(1 for line in lines if route(line, settings_of(stack)).topic == stack.topic("dlq"))
    on_inputs = len(lines) - dead
    floors = {
        "bare": bare_read(stack, on_inputs),
        "decoding": bare_read(stack, on_inputs, decode=True),
        "copy": transactional_copy(stack, on_inputs),
    }
    worker = WorkerProcess(stack, "bench", work).start()
    try:
        wait_for(lambda: bool((worker.health() or {}).get("partitions")), 120, "assignment", 0.05)
        started = time.perf_counter()
        wait_for(lambda: asyncio.run(group_lag(stack)) == 0, 3600, "the backlog", 0.25)
        elapsed = time.perf_counter() - started
    finally:
        worker.stop()
    return {
        "lines": len(lines),
        "on_inputs": on_inputs,
        "accounts": accounts,
        "kinds": counts,
        "worker_seconds": elapsed,
        "worker_rate": on_inputs / elapsed,
        **{f"{name}_seconds": seconds for name, seconds in floors.items()},
        **{f"{name}_rate": on_inputs / seconds for name, seconds in floors.items()},
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
    stack = Stack(broker, "latency", PARTITIONS, extra=dict(EXTRA))
    asyncio.run(ensure_topics(settings_of(stack)))
    worker = WorkerProcess(stack, "bench", work).start()
    sent: dict[tuple[str, int], float] = {}
    latencies: list[float] = []
    try:
        wait_for(lambda: bool((worker.health() or {}).get("partitions")), 120, "assignment", 0.05)

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


async def write_changelog(stack: Stack, positions: int) -> int:
    """A changelog for `positions` positions in positions/2 cross accounts, every partition
    with its cursor at the (empty) inputs' start. Returns the records written."""
    settings = settings_of(stack)
    await ensure_topics(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.broker.bootstrap, acks="all", linger_ms=20, max_batch_size=1 << 20
    )
    await producer.start()
    pending, written = [], 0
    symbols = ("BTCUSDT", "ETHUSDT")
    try:
        for number in range(positions // 2):
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
    stack = Stack(broker, "recovery", PARTITIONS)
    written = asyncio.run(write_changelog(stack, positions))
    worker = WorkerProcess(stack, "bench", work)
    started = time.perf_counter()
    worker.start()
    try:
        wait_for(lambda: restored(worker), 3600, "the restore", 0.1)
        elapsed = time.perf_counter() - started
        status, body = worker.get("/accounts/acct0000003/cross/USDT")
        assert status == 200, body
        assert len(body["positions"]) == 2, body
    finally:
        worker.stop()
    return {"positions": positions, "records": written, "seconds": elapsed}


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def section(results: dict[str, Any], when: str) -> str:
    t, lat, rec = results["throughput"], results["latency"], results["recovery"]
    ratio = t["worker_rate"] / t["bare_rate"]
    rate, decoding, copy = t["worker_rate"], t["decoding_rate"], t["copy_rate"]
    p99 = lat["p99"]
    rows = [
        START,
        "## Kafka worker (issue: Kafka workers)",
        "",
        f"Measured {when} on this machine: one local broker (`deploy/kafka`, Kafka 3.9.1), "
        f"one worker process, {PARTITIONS} partitions. Reproduce: `make bench` "
        f"(this part: `{COMMAND}`, about ten minutes).",
        "",
        "| target | result | baseline (same run) | verdict |",
        "|---|---|---|---|",
        f"| (1) worker input rate >= 50% of a bare consumer, {t['accounts']:,} accounts | "
        f"{rate:,.0f} events/s ({ratio:.1%}) | bare librdkafka consumer "
        f"{t['bare_rate']:,.0f} messages/s | **{'met' if ratio >= 0.5 else 'missed'}** |",
        f"| (1') the same, next to the floors that do part of its work | "
        f"{rate / decoding:.1%} of a consumer that decodes, {rate / copy:.1%} of a "
        f"transactional copy | decoding {decoding:,.0f}/s, copy {copy:,.0f}/s | (no target) |",
        f"| (2) mark -> transition p99 <= 250 ms at 5,000 events/s | p50 {ms(lat['p50'])}, "
        f"p99 {ms(p99)}, max {ms(lat['max'])} ({lat['transitions']:,} transitions) | "
        f"input paced at {lat['rate']:,.0f} events/s | "
        f"**{'met' if p99 is not None and p99 <= 250 else 'missed'}** |",
        f"| (3) recovery of a worker owning {rec['positions']:,} positions | "
        f"{rec['seconds']:.1f} s from process start to every partition restored | "
        f"{rec['records']:,} changelog records | (no target) |",
        "",
        f"(1) {t['on_inputs']:,} messages ({t['lines']:,} lines of `tests/bench/generate.py`, "
        f"marks {t['kinds'].get('mark', 0):,}) published before the worker starts; the worker "
        f"took {t['worker_seconds']:.1f} s from its partition assignment until its committed "
        f"offsets reached the end of the account topics; the bare consumer read them in "
        f"{t['bare_seconds']:.1f} s (`tests/bench/kafka_tools.py`, fetches of the worker's "
        f"size), decoded them into columns (`streams.columns.decode_lines`) in "
        f"{t['decoding_seconds']:.1f} s, and copied them to one topic in one transaction a "
        f"fetch (offsets sent to the transaction) in {t['copy_seconds']:.1f} s. The worker "
        f"serves its {PARTITIONS} partitions from one engine (docs/STREAMS.md), so a mark "
        "costs one engine update, not one a partition.",
        "",
        f"(2) {lat['events']:,} lines paced in 10 ms slices; latency = the time the "
        "transition was fetched (read committed) minus the time its mark was handed to the "
        "producer. It includes the merge grace (50 ms), the transaction commit and the "
        f"consumer's fetch. Lag left after the run: {lat['lag_after']:,} records.",
        "",
        "(3) The changelog is written directly (two positions and a wallet per account), so "
        "the figure is the restore alone: reading the changelog, decoding every entry and "
        "rebuilding every engine.",
        END,
    ]
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    global PARTITIONS  # noqa: PLW0603 - one setting for the whole run
    parser = bench_parser(__doc__)
    parser.add_argument("--partitions", type=int, default=PARTITIONS)
    parser.add_argument("--only", choices=("throughput", "latency", "recovery"))
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
            steps: dict[str, Callable[[], dict[str, Any]]] = {
                "throughput": lambda: throughput(
                    broker, work, 20_000 if quick else 400_000, 2_000 if quick else 100_000
                ),
                "latency": lambda: latency(
                    broker, work, 5_000 if quick else 300_000, 2_000 if quick else 100_000, 5_000
                ),
                "recovery": lambda: recovery(broker, work, 10_000 if quick else 1_000_000),
            }
            if arguments.only:
                steps = {arguments.only: steps[arguments.only]}
            results = {}
            for name, step in steps.items():
                began = time.perf_counter()
                results[name] = step()
                print(
                    name,
                    json.dumps(results[name], default=str),
                    f"({time.perf_counter() - began:.0f} s)",
                    flush=True,
                )
        finally:
            broker.down()
    if arguments.only:
        return 0
    text = section(results, time.strftime("%Y-%m-%d"))
    publish(text, arguments.write, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
