"""POST /whatif on two workers and a real broker (SPEC §10.1): asked at either worker, the
answer is every partition's replay under the proposal, merged; a bad proposal is a 400 with
its reason, and it changes nothing the workers hold or publish."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from risk import Engine
from risk.instruments import Instrument
from streams.config import parse_config
from streams.http.accounts import owning_partition
from streams.kafka.partitioning import partition_lines
from streams.replay import replay_lines
from streams.settings import Settings
from streams.whatif_live import merge_shares, parse_proposal, scaled_rates, worker_share
from tests.integration.kafka import Broker, Stack, WorkerProcess, wait_for
from tests.integration.scenario import Scenario, dead_letter_count, transitions
from tests.integration.test_workers import (
    PARTITIONS,
    finish,
    split_up,
    start_publishing,
    wait_for_output,
)

pytestmark = pytest.mark.integration
LEVELS = {"watch": 0.4, "margin_call": 0.6, "liquidation": 0.9}
TOKEN = "whatif-token-0123456789"  # the workers ask each other with it (SPEC §13)


def partition_engines(scenario: Scenario) -> list[Engine]:
    """Each partition's task replayed offline: what the workers hold once the input is in."""
    config = parse_config(scenario.config.read_text(), str(scenario.config))
    engines = []
    for selected in partition_lines(scenario.lines, Settings(partitions=PARTITIONS)).values():
        engine = config.engine()
        replay_lines(selected, engine, lambda _: None)
        engines.append(engine)
    return engines


def busiest_instrument(engines: list[Engine]) -> Instrument:
    """The instrument with the most positions (as the engines define it now)."""
    rows: dict[str, int] = {}
    for engine in engines:
        for code, block in enumerate(engine.blocks):
            symbol = engine.instruments[code].symbol
            rows[symbol] = rows.get(symbol, 0) + len(block)
    symbol = max(rows, key=lambda name: rows[name])
    return engines[0].instruments[engines[0].symbols[symbol]]


def expected_answer(engines: list[Engine], body: bytes, funds: list[Any]) -> Any:
    proposal = parse_proposal(body, "application/json")
    document = merge_shares([worker_share(engine, proposal) for engine in engines], funds)
    return json.loads(json.dumps({"complete": True, "missing_partitions": [], **document}))


def test_what_if_on_two_workers_is_every_partitions_replay_under_the_proposal(
    broker: Broker, tmp_path: Path
) -> None:
    scenario = Scenario.generate(tmp_path, seed=71, size=2000, partitions=PARTITIONS)
    stack = Stack(
        broker,
        "whatif",
        PARTITIONS,
        extra={"RISKMON_CONFIG": str(scenario.config), "RISKMON_API_TOKEN": TOKEN},
    )
    left, right = (WorkerProcess(stack, name, tmp_path).start() for name in ("w1", "w2"))
    try:
        wait_for(lambda: split_up(left, right), 120, "both workers to own partitions", poll=0.2)
        finish(start_publishing(stack, scenario, interval_ms=1))
        wait_for_output(stack, scenario, [left, right])
        engines = partition_engines(scenario)
        proposal = {**scaled_rates(busiest_instrument(engines), 1.5), "levels": LEVELS}
        body = json.dumps(proposal).encode()
        funds = settled_fund(left)["funds"]
        expected = expected_answer(engines, body, funds)
        changed = {item["margin_account"] for item in expected["changed_accounts"]}
        held = [set((worker.health() or {})["partitions"]) for worker in (left, right)]
        for owned in held:  # accounts of both workers change: the answer must span them
            assert any(owning_partition(account, PARTITIONS) in owned for account in changed)
        for worker, kind in ((left, "application/json"), (right, "application/toml")):
            sent = body if kind == "application/json" else as_toml(proposal).encode()
            status, text = worker.post("/whatif", sent, kind)
            assert status == 200, text
            assert json.loads(text) == expected
        check_refusal(scenario, stack, left)
    finally:
        stopped = [worker.stop() for worker in (left, right)]
    assert stopped == [0, 0], left.log()[-3000:] + right.log()[-3000:]


def settled_fund(worker: WorkerProcess) -> Any:
    """The fund projection once it is there (the aggregator asked the other worker for its
    share, with the token) and no newer epoch follows for 2 s."""
    wait_for(lambda: worker.get("/fund")[0] == 200, 60, "a fund projection over both")
    latest = worker.get("/fund")[1]

    def unchanged() -> bool:
        nonlocal latest
        time.sleep(2)
        now, latest = latest, worker.get("/fund")[1]
        return bool(now == latest)

    wait_for(unchanged, 60, "the last epoch's projection")
    return latest


def check_refusal(scenario: Scenario, stack: Stack, worker: WorkerProcess) -> None:
    """A proposal that fails validation is a 400 with its reason; nothing changes."""
    before = (worker.get("/accounts?level=safe&limit=1000"), len(transitions(stack)))
    bad = b'[[instruments]]\nsymbol = "X"\nkind = "linear"\nsettle = "USDT"\ntiers = []\n'
    status, text = worker.post("/whatif", bad, "application/toml")
    assert status == 400
    assert text.startswith("config proposal: instrument X")
    after = (worker.get("/accounts?level=safe&limit=1000"), len(transitions(stack)))
    assert after == before
    assert dead_letter_count(stack) == len(scenario.dead_letters)
    anonymous = urllib.request.Request(f"http://127.0.0.1:{worker.web_port}/whatif", bad)
    assert WorkerProcess.ask(anonymous)[0] == 401
    metrics = WorkerProcess.ask(
        urllib.request.Request(f"http://127.0.0.1:{worker.web_port}/metrics")
    )
    assert "riskmon_http_unauthorized_total 1.0" in metrics[1]


def as_toml(proposal: dict[str, Any]) -> str:
    """The JSON proposal as the TOML a person would write."""
    (instrument,) = proposal["instruments"]
    tiers = ", ".join(
        "{" + ", ".join(f"{key} = {value!r}" for key, value in tier.items()) + "}"
        for tier in instrument["tiers"]
    )
    fields = [f"{key} = {json.dumps(value)}" for key, value in instrument.items() if key != "tiers"]
    levels = [f"{key} = {value!r}" for key, value in proposal["levels"].items()]
    return "\n".join(["[levels]", *levels, "[[instruments]]", *fields, f"tiers = [{tiers}]", ""])
