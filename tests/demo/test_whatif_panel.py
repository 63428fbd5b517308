"""The demo's what-if (GET /api/whatif, the page's what-if panel): a worker's POST /whatif
document for the simulated book, with a symbol's maintenance rates scaled."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from risk.levels import LEVEL_NAMES
from streams.demo.web import build_app
from streams.whatif_live import merge_shares, parse_proposal, scaled_rates, worker_share
from tests.demo.runs import crash_run


def ask(query: str) -> tuple[int, Any]:
    monitor, _ = crash_run()

    async def scenario() -> tuple[int, Any]:
        server = TestServer(build_app(monitor, {}))
        await server.start_server()
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(server.make_url("/api/whatif?" + query)) as reply,
            ):
                return reply.status, await reply.json()
        finally:
            await server.close()

    return asyncio.run(scenario())


def test_scaled_rates_answer_what_a_worker_would() -> None:
    monitor, _ = crash_run()
    engine = monitor.engine
    status, document = ask("symbol=BTCUSDT&factor=1.5")
    assert status == 200
    instrument = engine.instruments[engine.symbols["BTCUSDT"]]
    body = json.dumps(scaled_rates(instrument, 1.5)).encode()
    share = worker_share(engine, parse_proposal(body, "application/json"))
    assert monitor.latest is not None
    expected = merge_shares([share], monitor.latest["funds"])
    assert document == json.loads(json.dumps(expected)) | {
        "symbol": "BTCUSDT",
        "factor": 1.5,
        "sim_ts": monitor.now_ts,
    }
    changed = document["changed_accounts"]
    assert changed  # the crash left accounts near every threshold
    for item in changed:  # raised rates only raise maintenance: levels only go up
        assert LEVEL_NAMES.index(item["proposed_level"]) > LEVEL_NAMES.index(item["base_level"])
        assert item["proposed_margin_ratio"] > item["base_margin_ratio"]
    assert [fund["base"] for fund in document["funds"]] == [
        fund["proposed"] for fund in document["funds"]
    ]  # tiers do not enter the one-round stress (SPEC §8)


def test_the_same_rates_change_nothing() -> None:
    status, document = ask("symbol=ETHUSDT&factor=1")
    assert status == 200
    assert document["changed_accounts"] == []
    assert document["levels"]["base"] == document["levels"]["proposed"]
    assert sum(document["levels"]["base"].values()) > 0


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("symbol=NOPE&factor=2", "unknown symbol 'NOPE'"),
        ("symbol=BTCUSDT&factor=0", "factor must be in (0, 10]"),
        ("symbol=BTCUSDT&factor=nan", "factor must be in (0, 10]"),
        ("symbol=BTCUSDT&factor=much", "factor must be in (0, 10]"),
        ("symbol=BTCUSDT", "factor must be in (0, 10]"),
    ],
)
def test_bad_queries_say_why(query: str, reason: str) -> None:
    assert ask(query) == (400, {"error": reason})


def test_rates_past_what_a_table_allows_are_refused() -> None:
    status, document = ask("symbol=BTCUSDT&factor=2")  # the top tier's 0.5 becomes 1
    assert status == 400
    assert document["error"].startswith("config proposal: instrument BTCUSDT")
