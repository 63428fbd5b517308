"""`riskmon demo`: the simulation loop, the web server and the terminal view, until the
duration ends or Ctrl-C.

Every `TICK_SECONDS` of wall time the simulated clock moves `speed * TICK_SECONDS`; the
monitor steps (`streams.demo.monitor`), and the newest pending fund epoch is projected in a
thread while the loop goes on (an epoch that arrives while one is computed replaces the
previous one). The wall clock is read here only: the simulated time starts at the current
second.
"""

from __future__ import annotations

import asyncio
import signal
import time
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Final, TextIO

from rich.console import Console

from streams.config import EngineConfig
from streams.demo.monitor import Monitor
from streams.demo.scenarios import Scenario
from streams.demo.view import LiveView, LogView, log_line
from streams.demo.web import start_web

TICK_SECONDS: Final = 0.25
HOST: Final = "127.0.0.1"


@dataclass(frozen=True)
class DemoOptions:
    scenario: Scenario
    accounts: int
    seed: int
    speed: float
    duration: float | None  # wall seconds; None: until Ctrl-C
    port: int

    def settings(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "speed": self.speed,
            "accounts": self.accounts,
        }


async def run_demo(config: EngineConfig, options: DemoOptions, out: TextIO, err: TextIO) -> Monitor:
    """Run until the duration ends or SIGINT/SIGTERM; returns the monitor at the end.

    The view goes to `out` (live when it is a terminal); the page's URL (a line `web: URL`),
    the run's description and the closing lines go to `err`."""
    monitor = Monitor(config, options.scenario, options.accounts, options.seed)
    start_ts = int(time.time()) * 1000
    monitor.open(start_ts)
    settings = {**options.settings(), "running": True}
    runner, url = await start_web(monitor, settings, HOST, options.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    scenario = options.scenario
    print(f"web: {url}", file=err, flush=True)
    print(
        f"riskmon demo: {scenario.name} ({scenario.description}); {options.accounts} accounts, "
        f"seed {options.seed}, {options.speed:g}x; metrics {url}metrics; Ctrl-C stops",
        file=err,
        flush=True,
    )
    title = f"riskmon demo: {scenario.name} at {options.speed:g}x   {url}"
    view = LiveView(Console(file=out), title) if out.isatty() else LogView(out)
    try:
        with view:
            await _loop(monitor, options, start_ts, stop, view)
    finally:
        settings["running"] = False
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
        await runner.cleanup()
    print(log_line(monitor), file=err, flush=True)
    print("riskmon demo: stopped", file=err, flush=True)
    return monitor


async def _loop(
    monitor: Monitor,
    options: DemoOptions,
    start_ts: int,
    stop: asyncio.Event,
    view: LiveView | LogView,
) -> None:
    step_ms = max(1, round(options.speed * TICK_SECONDS * 1000))
    began = time.monotonic()
    projecting: asyncio.Task[dict[str, Any]] | None = None
    ticks = 0
    while not stop.is_set():
        if options.duration is not None and time.monotonic() - began >= options.duration:
            break
        ticks += 1
        monitor.step(start_ts + ticks * step_ms)
        projecting = _project(monitor, projecting)
        view.update(monitor)
        wait = began + ticks * TICK_SECONDS - time.monotonic()
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(wait, 0.0))
    if projecting is not None:  # the last one, so the closing line is current
        monitor.latest = await projecting


def _project(
    monitor: Monitor, projecting: asyncio.Task[dict[str, Any]] | None
) -> asyncio.Task[dict[str, Any]] | None:
    """Collect a finished projection; start one on the newest pending epoch when idle."""
    if projecting is not None:
        if not projecting.done():
            return projecting
        monitor.latest = projecting.result()
    pending = monitor.take_pending()
    if pending is None:
        return None
    return asyncio.ensure_future(asyncio.to_thread(Monitor.project, *pending))
