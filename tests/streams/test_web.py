"""The HTTP API in memory: two workers' apps, each owning one partition, real engines.

Forwarding and the worst-accounts fan-out go over real HTTP between the two test servers.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from prometheus_client.registry import CollectorRegistry

from risk import Engine
from risk.levels import Level
from streams.config import load_config
from streams.http.access import server_context
from streams.http.accounts import owning_partition, worst_accounts
from streams.http.web import build_app
from streams.kafka.checkpoints import Checkpoint
from streams.kafka.inputs import MemoryRecord as Record
from streams.kafka.projections import FundDesk
from streams.kafka.task import PartitionTask
from streams.observability.metrics import register_metrics
from streams.settings import WebAccess

PARTITIONS = 2
CONFIG = load_config(None)


@dataclass
class FakeWorker:
    """A worker's directory with real tasks, without Kafka."""

    tasks: dict[int, PartitionTask]
    url: str = ""
    routes: dict[int, str] = field(default_factory=dict)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejects: Counter[str] = field(default_factory=Counter)
    level_transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    fund: FundDesk = field(default_factory=FundDesk)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    behind: dict[str, int] = field(default_factory=dict)
    rounds: int = 0
    restores: int = 0

    def __post_init__(self) -> None:
        self.metrics = register_metrics(self.registry, self)

    def engines(self) -> list[Engine]:
        return [task.engine for task in self.tasks.values()]

    def fund_projection(self) -> dict[str, Any] | None:
        return self.fund.latest

    reconciliation_drift: int = 0

    def reconciliation_age(self) -> float:
        return 0.0

    def lag(self) -> dict[str, int]:
        return self.behind

    def partition_count(self) -> int | None:
        return PARTITIONS

    def owners(self) -> dict[int, str]:
        return self.routes

    def status(self) -> dict[str, Any]:
        return {"partitions": sorted(self.tasks), "restoring": []}


def feed(task: PartitionTask, event: dict[str, Any]) -> None:
    record = Record("t", task.partition, 0, 0, None, json.dumps(event).encode())
    task.apply(record, event["type"], broadcast=event["type"] == "mark")


def book_events() -> list[tuple[str | None, dict[str, Any]]]:
    """Ten accounts, 1 BTC long each at 60000, wallets 150..690: every level but bankrupt.
    Each event with its margin account (None: a mark, which every task takes)."""
    mark = {"type": "mark", "symbol": "BTCUSDT", "price": 60000, "ts": 1}
    events: list[tuple[str | None, dict[str, Any]]] = [(None, mark)]
    for number in range(10):
        account = f"acct{number}"
        balance = {"type": "balance", "account": account, "asset": "USDT", "ts": 2}
        position = {"type": "position", "account": account, "symbol": "BTCUSDT", "size": 1}
        events += [
            (f"{account}/cross/USDT", {**balance, "wallet": 150 + 60 * number}),
            (f"{account}/cross/USDT", {**position, "entry_price": 60000, "ts": 3}),
        ]
    return [*events, (None, {**mark, "price": 59900, "ts": 4})]


def build_tasks(partitions: int = PARTITIONS) -> dict[int, PartitionTask]:
    """The book of `book_events`, each account in the task of its partition."""
    tasks = {p: PartitionTask(p, CONFIG, {}, Checkpoint()) for p in range(partitions)}
    for margin_account, event in book_events():
        if margin_account is None:
            for task in tasks.values():
                feed(task, event)
        else:
            feed(tasks[owning_partition(margin_account, partitions)], event)
    return tasks


@asynccontextmanager
async def two_workers(
    access: WebAccess | None = None,
) -> AsyncIterator[tuple[TestServer, TestServer, FakeWorker, FakeWorker]]:
    """Two workers' apps on loopback, each owning one partition (`access`: token, TLS)."""
    tasks = build_tasks()
    workers = [FakeWorker({p: tasks[p]}) for p in range(PARTITIONS)]
    context = None if access is None else server_context(access)
    servers = [TestServer(build_app(worker, access)) for worker in workers]
    for server, worker in zip(servers, workers, strict=True):
        await server.start_server(ssl=context)  # https then, as `make_url` gives
        worker.url = str(server.make_url("")).rstrip("/")
    routes = {p: workers[p].url for p in range(PARTITIONS)}
    for worker in workers:
        worker.routes = routes
    try:
        yield servers[0], servers[1], workers[0], workers[1]
    finally:
        for server in servers:
            await server.close()


async def get(server: TestServer, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(server.make_url(path)) as reply:
        return reply.status, await reply.json(content_type=None)


def account_in(partition: int) -> str:
    for number in range(10):
        margin_account = f"acct{number}/cross/USDT"
        if owning_partition(margin_account, PARTITIONS) == partition:
            return margin_account
    raise AssertionError("no account in that partition")


def test_an_account_is_answered_by_its_owner_through_any_worker() -> None:
    async def scenario() -> None:
        async with two_workers() as (first, _, _, second_worker):
            remote = account_in(1)
            status, body = await get(first, f"/accounts/{remote}")
            assert status == 200
            task = second_worker.tasks[1]
            index = task.engine.find_margin_account(remote)
            assert index is not None
            assert body == json.loads(json.dumps(task.engine.account_view(index).as_record()))
            assert body["positions"][0]["symbol"] == "BTCUSDT"
            status, body = await get(first, "/accounts/nobody/cross/USDT")
            assert (status, body["error"]) == (404, "unknown margin account")

    asyncio.run(scenario())


def test_worst_accounts_merge_every_worker() -> None:
    async def scenario() -> None:
        async with two_workers() as (first, second, first_worker, second_worker):
            status, body = await get(first, "/accounts?level=watch&limit=8")
            assert status == 200
            assert (body["complete"], body["missing_partitions"]) == (True, [])
            every = [*first_worker.tasks.values(), *second_worker.tasks.values()]
            expected = worst_accounts(every, Level.WATCH, 8)
            assert body["accounts"] == json.loads(json.dumps(expected))
            ratios = [account["margin_ratio"] for account in body["accounts"]]
            assert ratios == sorted(ratios, reverse=True)
            assert {account["level"] for account in body["accounts"]} <= {
                "watch",
                "margin_call",
                "liquidation",
                "bankrupt",
            }
            owners = {owning_partition(a["margin_account"], PARTITIONS) for a in body["accounts"]}
            assert owners == {0, 1}  # the list really spans both workers
            status, body = await get(second, "/accounts?level=bankrupt")
            assert (status, body["accounts"]) == (200, [])

    asyncio.run(scenario())


def test_an_unreachable_owner_is_reported_not_hidden() -> None:
    async def scenario() -> None:
        async with two_workers() as (first, second, _, _):
            await second.close()
            status, body = await get(first, "/accounts?level=safe&limit=50")
            assert status == 503
            assert (body["complete"], body["missing_partitions"]) == (False, [1])
            assert all(owning_partition(a["margin_account"], 2) == 0 for a in body["accounts"])
            status, body = await get(first, f"/accounts/{account_in(1)}")
            assert status == 503
            assert body["partition"] == 1

    asyncio.run(scenario())


def test_bad_queries_are_refused() -> None:
    async def scenario() -> None:
        async with two_workers() as (first, _, _, _):
            for query in ("level=doomed", "limit=0", "limit=1001", "limit=many"):
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(first.make_url(f"/accounts?{query}")) as reply,
                ):
                    assert reply.status == 400, query

    asyncio.run(scenario())


def test_metrics_expose_the_input_counters() -> None:
    async def scenario() -> None:
        async with two_workers() as (first, _, first_worker, _):
            first_worker.outcomes.update({("mark", "accepted"): 3, ("position", "rejected"): 1})
            first_worker.rejects.update({"unknown symbol": 1})
            async with (
                aiohttp.ClientSession() as session,
                session.get(first.make_url("/metrics")) as reply,
            ):
                assert reply.status == 200
                assert reply.headers["Content-Type"].startswith("text/plain")
                text = await reply.text()
            assert 'riskmon_events_total{outcome="accepted",type="mark"} 3.0' in text
            assert 'riskmon_events_total{outcome="rejected",type="position"} 1.0' in text
            assert 'riskmon_rejected_events_total{reason="unknown symbol"} 1.0' in text

    asyncio.run(scenario())
