"""`riskmon demo` running: its JSON endpoints and `/metrics` answer while it runs headless,
Ctrl-C stops it cleanly, and bad options, a busy port or an unreadable config are one line."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from streams.cli import main
from streams.config import load_config
from streams.demo.runner import DemoOptions, run_demo
from streams.demo.scenarios import SCENARIOS
from streams.kernels import NOTICE

REPO = Path(__file__).resolve().parents[2]
LEVELS = ["safe", "watch", "margin_call", "liquidation", "bankrupt"]


class Captured(io.StringIO):
    """stderr as the demo sees it: not a terminal."""

    def isatty(self) -> bool:
        return False


async def poll_demo(err: Captured) -> dict[str, Any]:
    """Wait for the URL line, then read every endpoint until a fund projection is out."""
    while "web: " not in err.getvalue():
        await asyncio.sleep(0.05)
    url = err.getvalue().split("web: ", 1)[1].split()[0]
    answers: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            async with session.get(url + "api/fund") as response:
                if response.status == 200:
                    answers["fund"] = await response.json()
                    break
                assert response.status == 503
                assert await response.json() == {"error": "no fund projection yet"}
            await asyncio.sleep(0.1)
        for name in ("api/status", "api/levels", "api/transitions?limit=5", "health"):
            async with session.get(url + name) as response:
                assert response.status == 200, name
                answers[name] = await response.json()
        async with session.get(url + "api/transitions?limit=0") as response:
            assert response.status == 400
        async with session.get(url + "metrics") as response:
            answers["metrics"] = await response.text()
        async with session.get(url) as response:
            answers["page"] = await response.text()
    return answers


def test_the_demo_answers_its_endpoints_while_it_runs() -> None:
    options = DemoOptions(
        SCENARIOS["cascade"], accounts=800, seed=3, speed=600.0, duration=6.0, port=0
    )
    out, err = Captured(), Captured()

    async def scenario() -> tuple[Any, dict[str, Any]]:
        demo = asyncio.create_task(run_demo(load_config(None), options, out, err))
        answers = await poll_demo(err)
        return await demo, answers

    monitor, answers = asyncio.run(scenario())
    status = answers["api/status"]
    assert status["scenario"] == "cascade"
    assert status["accounts"] == 800
    assert status["running"] is True
    assert list(status["levels"]) == LEVELS
    assert status["sim_ts"] > status["sim_start_ts"]
    assert set(status["marks"]) == {item.symbol for item in load_config(None).instruments}
    assert set(status["funds"]) == {"USDT", "USDC", "BTC", "ETH"}
    assert status["traders"] >= 800
    assert isinstance(status["socialised"], dict)
    points = answers["api/levels"]["points"]
    assert points
    assert all(list(point["levels"]) == LEVELS for point in points)
    assert [point["ts"] for point in points] == sorted(point["ts"] for point in points)
    fund = answers["fund"]
    assert {item["asset"] for item in fund["funds"]} == {"USDT", "USDC", "BTC", "ETH"}
    assert len(fund["liquidation_map"]["BTCUSDT"]) == 20
    feed = answers["api/transitions?limit=5"]["transitions"]
    assert 1 <= len(feed) <= 5
    assert [record["ts"] for record in feed] == sorted((r["ts"] for r in feed), reverse=True)
    assert "riskmon_margin_accounts{level=" in answers["metrics"]
    assert "riskmon_insurance_fund_balance{asset=" in answers["metrics"]
    assert "process_resident_memory_bytes" in answers["metrics"]
    assert answers["page"].lstrip().lower().startswith("<!doctype html")
    assert monitor.transitions >= len(feed)
    lines = out.getvalue().splitlines()
    assert lines
    assert all(line.startswith("sim ") for line in lines)
    assert err.getvalue().rstrip().endswith("riskmon demo: stopped")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_busy_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = main(["demo", "--port", str(port), "--duration", "1", "--accounts", "50"])
    assert status == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == (
        f"riskmon: error: port {port} on 127.0.0.1 is busy: pass another --port "
        "(0 picks a free one)"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--speed", "0"], "riskmon demo: error: argument --speed: must be in [0.001, 100000]"),
        (["--accounts", "many"], "riskmon demo: error: argument --accounts: 'many' is not a"),
        (["--config", "/nonexistent.toml"], "riskmon: error: cannot read config /nonexistent"),
    ],
)
def test_bad_options_and_configs_are_one_line(
    capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    try:
        status = main(["demo", *arguments])
    except SystemExit as stop:  # argparse's own exit
        status = int(str(stop.code))
    assert status == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith(message)


def test_ctrl_c_stops_the_demo_cleanly() -> None:
    command = [sys.executable, "-m", "streams.cli", "demo", "--accounts", "300"]
    command += ["--port", str(free_port()), "--speed", "600"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    demo = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert demo.stderr is not None
        first = demo.stderr.readline()
        if first.rstrip("\n") == NOTICE:  # a slow machine or a cold cache: see streams.kernels
            assert demo.stderr.readline().startswith("riskmon: kernels ready in ")
            first = demo.stderr.readline()
        assert first.startswith("web: http://127.0.0.1:"), first
        time.sleep(2.0)
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=20)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, err
    assert "Traceback" not in err
    assert err.rstrip().endswith("riskmon demo: stopped")
    assert out.splitlines()[0].startswith("sim ")  # plain lines: stdout is not a terminal
