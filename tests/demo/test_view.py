"""The demo's terminal view and level history, read from a monitor after a crash."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from risk.levels import Level
from streams.demo import monitor as monitor_module
from streams.demo.monitor import Monitor
from streams.demo.scenarios import SCENARIOS
from streams.demo.view import LiveView, LogView, amount, fund_rows, log_line
from tests.demo.runs import CONFIG, START, crash_run


def test_the_live_screen_shows_levels_funds_worst_accounts_and_transitions() -> None:
    monitor, _ = crash_run()
    console = Console(file=io.StringIO(), width=220, record=True, color_system=None)
    console.print(LiveView(console, "riskmon demo").render(monitor))
    screen = console.export_text()
    counts = monitor.engine.level_counts()
    for level, count in counts.items():
        assert any(level in line and f" {count} " in line for line in screen.splitlines()), level
    for asset, balance, recommended, _, cascade, haircut, *_ in fund_rows(monitor.latest):
        assert asset in screen
        assert balance in screen
        assert recommended in screen
        assert cascade in screen
        assert haircut in screen
    newest = next(iter(monitor.recent))
    assert newest["margin_account"] in screen
    worst = monitor.engine.account_view(monitor.engine.worst_accounts(Level.WATCH, 1)[0])
    assert worst.margin_account in screen


def test_fund_rows_read_the_projection() -> None:
    monitor, _ = crash_run()
    assert monitor.latest is not None
    rows = {row[0]: row for row in fund_rows(monitor.latest)}
    usdt = next(fund for fund in monitor.latest["funds"] if fund["asset"] == "USDT")
    shock = usdt["depletion_shock_down"]
    assert rows["USDT"][6] == ("survives" if shock is None else f"{shock:+.1%}")
    assert rows["USDT"][2] == amount(usdt["recommended_balance"])
    assert usdt["recommended_balance"] is not None
    at_20 = next(point for point in usdt["stress"] if point["shock"] == -0.2)
    multiplier = at_20["cascade"]["multiplier"]
    assert multiplier is not None
    assert multiplier > 1.0  # the crash's thin books cascade
    assert rows["USDT"][4] == f"x{multiplier:.2f}"
    allocation = at_20["allocation"]
    assert allocation is not None  # the crash leaves the fund short at -20%
    assert rows["USDT"][5] == f"{allocation['socialized']:.1%}"
    assert 0.0 < allocation["socialized"] < 1.0
    assert fund_rows(None) == []


def test_log_lines_without_a_terminal() -> None:
    monitor, _ = crash_run()
    stream = io.StringIO()
    view = LogView(stream)
    view.update(monitor)
    view.update(monitor)  # within LOG_EVERY_SECONDS: no second line
    assert stream.getvalue() == log_line(monitor) + "\n"
    assert "transitions " + str(monitor.transitions) in stream.getvalue()


def test_the_history_keeps_the_whole_run_within_its_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor_module, "HISTORY_POINTS", 16)
    monitor = Monitor(CONFIG, SCENARIOS["calm"], 40, seed=1)
    monitor.open(START)
    for step in range(1, 101):
        monitor.step(START + step * 60_000)
    stamps = [ts for ts, _ in monitor.history]
    assert len(stamps) < 16
    assert stamps[0] == START
    assert stamps == sorted(set(stamps))
    assert stamps[-1] >= START + (100 - monitor.history_stride) * 60_000
