"""End to end against real parts: a worker on a real broker, fed a scenario whose insurance
fund is nearly empty, scraped by a real Prometheus (Debian's package, loopback, a temporary
directory) that loads the alert rules. Every dashboard panel's query and every alert's
expression goes through Prometheus' HTTP API: each must parse, each panel must return data,
and the depletion alert must reach the firing state.

The rules are loaded with `for: 0s` (a copy): the test checks the expressions and the wiring,
promtool's tests (tests/test_prometheus_rules.py) check the durations.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards.generate import DASHBOARDS
from tests.integration.kafka import Broker, WorkerProcess, wait_for
from tests.integration.scenario import Scenario
from tests.integration.test_workers import PARTITIONS, finish, stack_for, start_publishing
from tests.test_prometheus_rules import RULES

pytestmark = pytest.mark.integration
FUND_TABLE = "\n[fund]\npaths = 200\nprojection_interval_ms = 60000\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def drained(scenario: Scenario) -> None:
    """Append a nearly empty USDT fund and a few more minutes of marks (new epochs)."""
    lines = scenario.events.read_text().splitlines()
    last = max(json.loads(line)["ts"] for line in lines if line.startswith('{"type": "mark"'))
    marks = [json.loads(line) for line in lines if line.startswith('{"type": "mark"')][-3:]
    extra = [{"type": "fund", "asset": "USDT", "balance": 1.0, "ts": last + 1}]
    for minute in range(1, 4):
        extra += [{**mark, "ts": last + minute * 60_000} for mark in marks]
    text = "\n".join([*lines, *(json.dumps(event) for event in extra)]) + "\n"
    scenario.events.write_text(text)


@pytest.fixture
def prometheus(tmp_path: Path) -> tuple[str, Path]:
    """Prometheus' URL to be and its config path, with the rules beside it (`for: 0s`)."""
    if shutil.which("prometheus") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is missing: `make test` installs Debian's package")
        pytest.skip("prometheus is not installed (make tools installs it)")
    rules = tmp_path / "rules.yml"
    rules.write_text(re.sub(r"\bfor: \S+", "for: 0s", RULES.read_text()))
    return f"http://127.0.0.1:{free_port()}", tmp_path / "prometheus.yml"


def start_prometheus(binary: str, url: str, config: Path, target: str) -> subprocess.Popen[bytes]:
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(config.parent / "rules.yml")],
                "scrape_configs": [
                    {"job_name": "riskmon", "static_configs": [{"targets": [target]}]}
                ],
            }
        )
    )
    return subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={config.parent / 'tsdb'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def query(url: str, expr: str) -> dict[str, Any]:
    address = f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(address, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def alerts(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(url + "/api/v1/alerts", timeout=10) as response:
        found: list[dict[str, Any]] = json.loads(response.read())["data"]["alerts"]
        return found


def panel_queries() -> list[tuple[str, str]]:
    return [
        (f"{board['title']}: {panel['title']}", target["expr"].replace("$asset", ".*"))
        for board in (build() for build in DASHBOARDS)
        for panel in board["panels"]
        for target in panel["targets"]
    ]


def test_dashboards_and_alerts_against_a_real_prometheus(
    broker: Broker, tmp_path: Path, prometheus: tuple[str, Path]
) -> None:
    url, config = prometheus
    scenario = Scenario.generate(tmp_path, 61, 1500, PARTITIONS, FUND_TABLE)
    drained(scenario)
    stack = stack_for(broker, "e2e", scenario)
    worker = WorkerProcess(stack, "w1", tmp_path).start()
    binary = shutil.which("prometheus")
    assert binary is not None
    server = start_prometheus(binary, url, config, f"127.0.0.1:{worker.web_port}")
    try:
        finish(start_publishing(stack, scenario, interval_ms=1))
        wait_for(lambda: worker.get("/fund")[0] == 200, 120, "a fund projection")
        time.sleep(12)  # a dozen scrapes: rates and increases have two samples
        for name, expr in panel_queries():
            answer = query(url, expr)
            assert answer["status"] == "success", (name, answer)
            assert answer["data"]["result"], f"{name}: no data for {expr}"
        for group in yaml.safe_load(RULES.read_text())["groups"]:
            for rule in group["rules"]:
                assert query(url, rule["expr"])["status"] == "success", rule["alert"]

        def depletion_firing() -> bool:
            return any(
                alert["labels"]["alertname"] == "RiskmonDepletionShockClose"
                and alert["state"] == "firing"
                for alert in alerts(url)
            )

        wait_for(depletion_firing, 60, "the depletion alert to fire")
    finally:
        server.terminate()
        server.wait(timeout=30)
        stopped = worker.stop()
    assert stopped == 0, worker.log()[-3000:]
