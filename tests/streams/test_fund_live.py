"""Live fund projections between two workers' HTTP APIs, in memory (real HTTP, no Kafka).

Each worker's task engines feed its `FundDesk` at every epoch; the aggregation (what the owner
of partition 0 runs) asks the other worker for its share over HTTP and must give the
projection of one engine holding every account; `/fund` serves it on both workers.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import numpy as np
import pytest
from aiohttp.test_utils import TestServer

from risk import parse_event
from risk.fund.projection import aggregate_projection
from risk.fund.report import engine_share
from risk.fund.share import EpochShare
from streams.config import parse_config
from streams.http.fund_wire import pack
from streams.http.web import build_app
from streams.kafka.checkpoints import Checkpoint
from streams.kafka.inputs import MemoryRecord as Record
from streams.kafka.projections import NotReadyError, Peers, SkipEpochError, aggregate
from streams.kafka.task import PartitionTask
from streams.settings import WebAccess
from tests.streamgen import config_text, generate_stream
from tests.streams.test_fund_partitions import assert_close, book_scale, split
from tests.streams.test_web import FakeWorker

PARTITIONS = 2
FUND_TABLE = "\n[fund]\npaths = 300\nprojection_interval_ms = 60000\n"


def typed(line: str) -> str | None:
    """The line's event type, None when it has none (a rejected line changes no state)."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else None


def build(seed: int) -> tuple[list[FakeWorker], dict[int, EpochShare]]:
    lines, instruments = generate_stream(seed, 700)
    config = parse_config(config_text(instruments) + FUND_TABLE, "test")
    whole_engine = config.engine()
    whole: dict[int, EpochShare] = {}
    whole_engine.watch_epochs(lambda at: whole.__setitem__(at, engine_share(whole_engine, at)))
    for line in lines:
        try:
            whole_engine.apply(parse_event(json.loads(line)))
        except ValueError:
            continue
    workers = []
    for partition, part in enumerate(split(lines, PARTITIONS)):
        task = PartitionTask(partition, config, {}, Checkpoint())
        worker = FakeWorker({partition: task})
        held = frozenset((partition,))
        task.engine.watch_epochs(worker.fund.listener(held.__iter__, task.engine))
        for line in part:
            event_type = typed(line)
            if event_type is not None:
                record = Record("t", partition, 0, 0, None, line.encode())
                task.apply(record, event_type, broadcast=False)
        workers.append(worker)
    return workers, whole


@pytest.mark.parametrize("seed", [3, 17])
def test_two_workers_aggregate_to_the_whole_book(seed: int) -> None:
    asyncio.run(aggregate_and_serve(seed))


async def aggregate_and_serve(seed: int) -> None:
    workers, whole = build(seed)
    servers = [TestServer(build_app(worker)) for worker in workers]
    for server, worker in zip(servers, workers, strict=True):
        await server.start_server()
        worker.url = str(server.make_url("")).rstrip("/")
    for worker in workers:
        worker.routes = {partition: workers[partition].url for partition in range(PARTITIONS)}
    try:
        first, second = workers
        common = sorted(set(whole) & set(first.fund.snapshots) & set(second.fund.snapshots))
        assert len(common) >= 3
        at = common[-1]
        taken = first.fund.taken(at, {0})
        projection = await asyncio.to_thread(
            aggregate, taken, {0}, Peers([second.url], WebAccess()), PARTITIONS, at
        )
        share = whole[at]
        expected = aggregate_projection(share.market, [share])
        assert_close(projection, expected, book_scale(share), f"epoch {at}")
        allocated = [p["allocation"] for f in projection["funds"] for p in f["stress"]]
        cells = [cell for a in allocated if a for s in a["adl"].values() for cell in s.values()]
        assert any(cell["positions"] > 0 for cell in cells)  # the workers' queues were joined
        rows = sum(1 for settle in share.market.settle if settle == "USDT")
        first.fund.publish(projection, taken[0][0])
        assert len(first.fund.outbox) == len(expected["funds"])
        async with aiohttp.ClientSession() as session:
            for path, body in (
                (f"/fund/shares/{at}", {"names": ["X"]}),
                (f"/fund/stress/{at}", {"asset": "USDT", "shocks": [0.1, "x"]}),
                (f"/fund/stress/{at}", {"asset": "USDT", "shocks": [[0.1]]}),
                (f"/fund/cascade/{at}", {"asset": "USDT"}),
                (f"/fund/cascade/{at}", {"asset": "USDT", "marks": pack(np.ones(3))}),
                (f"/fund/cascade/{at}", {"asset": "USDT", "marks": pack(-np.ones((2, 1, 1)))}),
                (f"/fund/weights/{at}", {"asset": "USDT", "shocks": [float("nan")]}),
                (f"/fund/queue/{at}", {"asset": "USDT", "shocks": [0.1]}),
                (f"/fund/queue/{at}", {"asset": "USDT", "shocks": [0.1, 0.2], "need": pack(
                    np.ones((2, rows, 1)))}),
                (f"/fund/queue/{at}", {"asset": "USDT", "shocks": [0.1], "need": pack(
                    -np.ones((2, rows, 1)))}),
            ):  # fmt: skip
                async with session.post(second.url + path, json=body) as response:
                    assert response.status == 400, path
            unasked = {"asset": "USDT", "marks": pack(np.ones((2, 1, 1)))}
            async with session.post(
                f"{second.url}/fund/cascade/{at + 1}", json=unasked
            ) as response:
                assert response.status == 409
                assert "no share of epoch" in (await response.json())["error"]
            for worker in workers:  # the aggregator answers, the other worker forwards to it
                async with session.get(worker.url + "/fund") as response:
                    assert response.status == 200
                    assert await response.json() == json.loads(json.dumps(projection))
        # An epoch the other worker does not hold is not aggregated (yet);
        with pytest.raises(NotReadyError):
            await asyncio.to_thread(
                aggregate, taken, {0}, Peers([second.url], WebAccess()), PARTITIONS, at + 1
            )
        # shares that leave a partition out never will be.
        with pytest.raises(SkipEpochError):
            await asyncio.to_thread(aggregate, taken, {0}, Peers([], WebAccess()), PARTITIONS, at)
    finally:
        for server in servers:
            await server.close()
