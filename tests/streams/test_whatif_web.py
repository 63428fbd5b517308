"""POST /whatif on two workers' apps in memory (tests/streams/test_web.py's pair, real engines,
real HTTP between them): the merged answer is one engine's answer over every account, a bad
proposal is a 400 that changes nothing, and an owner that cannot answer is reported."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from risk import Engine
from risk.levels import Level
from streams.http.accounts import owning_partition
from streams.whatif_live import merge_shares, parse_proposal, worker_share
from tests.streams.test_web import PARTITIONS, build_tasks, feed, two_workers

# BTCUSDT's shipped maintenance rates raised by half (0.004, 0.005 -> 0.006, 0.0075).
PROPOSAL = """
[[instruments]]
symbol = "BTCUSDT"
kind = "linear"
settle = "USDT"
beta = 1.0
tiers = [{cap = 50000, mmr = 0.006}, {cap = 250000, mmr = 0.0075}, {mmr = 0.015}]
"""


async def post(server: TestServer, body: bytes, content_type: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            server.make_url("/whatif"), data=body, headers={"Content-Type": content_type}
        ) as reply,
    ):
        text = await reply.text()
        return reply.status, json.loads(text) if reply.status != 400 else text


def one_engine_answer(proposal: str, *marks: dict[str, Any]) -> dict[str, Any]:
    """What one worker holding every account answers (after `marks`): the oracle of the
    merged answer."""
    (task,) = build_tasks(partitions=1).values()
    for mark in marks:
        feed(task, mark)
    share = worker_share(task.engine, parse_proposal(proposal.encode(), "application/toml"))
    return merge_shares([share], [])


def as_json(document: dict[str, Any]) -> Any:
    return json.loads(json.dumps(document))


def test_the_merged_answer_is_one_engines_answer_from_either_worker() -> None:
    expected = {"complete": True, "missing_partitions": [], **as_json(one_engine_answer(PROPOSAL))}
    # acct4: equity 290 (wallet 390, 1 BTC long from 60000 at 59900); MM 249.5 -> 374.25
    acct4 = {
        "margin_account": "acct4/cross/USDT",
        "base_level": "margin_call",
        "proposed_level": "liquidation",
        "base_margin_ratio": pytest.approx(249.5 / 290),
        "proposed_margin_ratio": pytest.approx(374.25 / 290),
    }
    assert acct4 in expected["changed_accounts"]
    assert expected["levels"]["base"] != expected["levels"]["proposed"]
    as_toml, as_object = PROPOSAL.encode(), proposal_as_json()

    async def scenario() -> None:
        async with two_workers() as (first, second, _, _):
            for server, body, kind in (
                (first, as_toml, "application/toml"),
                (second, as_object, "application/json"),
            ):
                status, document = await post(server, body, kind)
                assert status == 200, document
                assert document == expected
            owners = {
                owning_partition(item["margin_account"], PARTITIONS)
                for item in expected["changed_accounts"]
            }
            assert owners == {0, 1}  # the answer really spans both workers

    asyncio.run(scenario())


def proposal_as_json() -> bytes:
    tiers = [{"cap": 50000, "mmr": 0.006}, {"cap": 250000, "mmr": 0.0075}, {"mmr": 0.015}]
    instrument = {"symbol": "BTCUSDT", "kind": "linear", "settle": "USDT", "beta": 1.0}
    return json.dumps({"instruments": [{**instrument, "tiers": tiers}]}).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[levels]\nwatch = 0.9\nmargin_call = 0.8\nliquidation = 1.0\n", "watch < margin_call"),
        (PROPOSAL.replace('"linear"', '"inverse"').encode(), "kind cannot change"),
        (PROPOSAL.replace("beta = 1.0", "beta = 2.0").encode(), "beta cannot change"),
        (b"[fund]\nbalance = 1\n", "only [[instruments]] and [levels]"),
        (b"not = [toml", "not valid TOML or JSON"),
        (b"", "changes nothing"),
    ],
)
def test_a_bad_proposal_is_a_400_that_says_why_and_changes_nothing(
    body: bytes, reason: str
) -> None:
    async def scenario() -> None:
        async with two_workers() as (first, _, first_worker, second_worker):
            engines = [
                task.engine for w in (first_worker, second_worker) for task in w.tasks.values()
            ]
            before = [state_of(engine) for engine in engines]
            status, text = await post(first, body, "application/toml")
            assert status == 400
            assert reason in text
            assert "\n" not in text.strip()
            assert [state_of(engine) for engine in engines] == before
            status, _ = await post(first, PROPOSAL.encode(), "application/toml")
            assert status == 200  # and the next good proposal is answered

    asyncio.run(scenario())


def state_of(engine: Engine) -> Any:
    """What a what-if must leave as it was: tables, thresholds, every account's record."""
    accounts = [
        engine.account_view(index).as_record() for index in engine.worst_accounts(Level.SAFE, 100)
    ]
    return (engine.instruments, engine.thresholds, as_json({"accounts": accounts}))


def test_an_owner_that_cannot_answer_is_reported_not_hidden() -> None:
    async def scenario() -> None:
        async with two_workers() as (first, second, _, _):
            await second.close()
            status, document = await post(first, PROPOSAL.encode(), "application/toml")
            assert status == 503
            assert (document["complete"], document["missing_partitions"]) == (False, [1])
            expected = as_json(one_engine_answer(PROPOSAL))["changed_accounts"]
            mine = [
                item
                for item in expected
                if owning_partition(item["margin_account"], PARTITIONS) == 0
            ]
            assert document["changed_accounts"] == mine

    asyncio.run(scenario())


def test_the_answer_is_the_book_now() -> None:
    """After a mark the same proposal is answered at the new prices."""
    mark = {"type": "mark", "symbol": "BTCUSDT", "price": 59800, "ts": 5}
    expected = as_json(one_engine_answer(PROPOSAL, mark))
    assert expected != as_json(one_engine_answer(PROPOSAL))

    async def scenario() -> None:
        async with two_workers() as (first, _, first_worker, second_worker):
            for worker in (first_worker, second_worker):
                for task in worker.tasks.values():
                    feed(task, mark)
            status, document = await post(first, PROPOSAL.encode(), "application/toml")
            assert status == 200
            assert document == {"complete": True, "missing_partitions": [], **expected}

    asyncio.run(scenario())
