"""A shared simulated flash crash for the demo tests (computed once per session)."""

from __future__ import annotations

from functools import cache
from typing import Any

from streams.config import load_config
from streams.demo.monitor import Monitor
from streams.demo.scenarios import SCENARIOS

CONFIG = load_config(None)
START = 1_760_000_000_000


@cache
def crash_run() -> tuple[Monitor, list[dict[str, Any]]]:
    """A flash crash of 1500 accounts, 240 steps of 6 simulated minutes, projected every
    8 steps (the runner projects whenever its thread is free)."""
    monitor = Monitor(CONFIG, SCENARIOS["flash-crash"], 1500, seed=7)
    monitor.open(START)
    projections = []
    for step in range(1, 241):
        monitor.step(START + step * 360_000)
        pending = monitor.take_pending()
        if pending is not None and step % 8 == 0:
            monitor.latest = Monitor.project(*pending)
            projections.append(monitor.latest)
    return monitor, projections


def usdt_stress(projection: dict[str, Any], shock: float) -> float:
    fund = next(item for item in projection["funds"] if item["asset"] == "USDT")
    return float(next(p["drawdown"] for p in fund["stress"] if p["shock"] == shock))
