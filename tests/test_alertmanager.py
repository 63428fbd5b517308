"""deploy/alertmanager/alertmanager.yml: amtool's check and routes, and inhibition in a real
Alertmanager (Debian's prometheus-alertmanager; `make test` installs it)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.tools import required_tool

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def tool(*names: str) -> str:
    return required_tool(*names, package="prometheus-alertmanager")


def amtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("amtool"), *arguments], capture_output=True, text=True, check=False, timeout=60
    )


def test_amtool_checks_the_config() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=page", "alertname=RiskmonFundCannotCoverStress"], "page"),
        (["severity=warn", "alertname=RiskmonRejectsRising"], "warn"),
        (["alertname=SomethingUnlabelled"], "warn"),
    ],
)
def test_routes_by_severity(labels: list[str], receiver: str) -> None:
    result = amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [receiver]


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = tool("prometheus-alertmanager", "alertmanager")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    storage = tmp_path_factory.mktemp("alertmanager")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={CONFIG}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/-/ready", timeout=1).close()
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError("alertmanager did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def post(url: str, alerts: list[dict[str, str]]) -> None:
    now = datetime.now(UTC).isoformat()
    body = [{"labels": labels, "annotations": {}, "startsAt": now} for labels in alerts]
    request = urllib.request.Request(
        url + "/api/v2/alerts",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()


def states(url: str) -> dict[tuple[str, str], Any]:
    with urllib.request.urlopen(url + "/api/v2/alerts", timeout=10) as response:
        found = json.loads(response.read())
    return {
        (alert["labels"]["alertname"], alert["labels"].get("asset", "")): alert["status"]
        for alert in found
    }


def test_a_page_inhibits_its_warning(alertmanager: str) -> None:
    family = {"family": "fund_drawdown_8h"}
    post(
        alertmanager,
        [
            {"alertname": "RiskmonFundDrawdownPage", "severity": "page", "asset": "USDT", **family},
            {"alertname": "RiskmonFundDrawdownWarn", "severity": "warn", "asset": "USDT", **family},
            {"alertname": "RiskmonFundDrawdownWarn", "severity": "warn", "asset": "BTC", **family},
            {"alertname": "RiskmonRejectsRising", "severity": "warn"},
        ],
    )
    found = states(alertmanager)
    assert found[("RiskmonFundDrawdownWarn", "USDT")]["state"] == "suppressed"
    assert found[("RiskmonFundDrawdownWarn", "USDT")]["inhibitedBy"]
    assert found[("RiskmonFundDrawdownWarn", "BTC")]["state"] == "active"  # another asset
    assert found[("RiskmonRejectsRising", "")]["state"] == "active"  # no family
    assert found[("RiskmonFundDrawdownPage", "USDT")]["state"] == "active"


def test_a_worker_down_inhibits_its_stale_marks(alertmanager: str) -> None:
    post(
        alertmanager,
        [
            {"alertname": "RiskmonDown", "severity": "page", "instance": "w0:6066"},
            {"alertname": "RiskmonStaleMarks", "severity": "page", "symbol": "BTCUSDT"},
        ],
    )
    found = states(alertmanager)
    assert found[("RiskmonStaleMarks", "")]["state"] == "suppressed"
    assert found[("RiskmonDown", "")]["state"] == "active"


def test_cover_2_inhibits_the_stress_page_of_its_asset(alertmanager: str) -> None:
    post(
        alertmanager,
        [
            {"alertname": "RiskmonFundCannotCoverTwoDefaults", "severity": "page", "asset": "BTC"},
            {"alertname": "RiskmonFundCannotCoverStress", "severity": "page", "asset": "BTC"},
            {"alertname": "RiskmonFundCannotCoverStress", "severity": "page", "asset": "USDT"},
        ],
    )
    found = states(alertmanager)
    assert found[("RiskmonFundCannotCoverStress", "BTC")]["state"] == "suppressed"
    assert found[("RiskmonFundCannotCoverStress", "USDT")]["state"] == "active"
    assert found[("RiskmonFundCannotCoverTwoDefaults", "BTC")]["state"] == "active"
