"""The demo's terminal view: a rich live screen on a terminal, plain log lines otherwise.

Both read the monitor after each step. The live screen shows the marks, accounts per level,
the funds (balance, the recommended size, the -20% stress drawdown, its cascade multiplier and
the haircut that would pay what the fund lacks there, depletion shocks, Monte Carlo
probability), the worst accounts and the latest transitions, refreshed in place. Without a
terminal a line every `LOG_EVERY_SECONDS` of wall time says the same in short.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from risk.levels import LEVEL_NAMES, Level
from streams.demo.monitor import Monitor

LOG_EVERY_SECONDS: Final = 2.0
STRESS_SHOCK: Final = -0.2
LEVEL_STYLES: Final = {
    "safe": "green",
    "watch": "yellow",
    "margin_call": "dark_orange",
    "liquidation": "red",
    "bankrupt": "magenta",
}
WORST: Final = 8
FEED: Final = 8


def clock(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def amount(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1_000 else f"{value:.4g}"


def times(multiplier: float | None) -> str:
    """A cascade multiplier: "x2.61"; "-" when one round costs nothing."""
    return "-" if multiplier is None else f"x{multiplier:.2f}"


def haircut(point: dict[str, Any] | None, balance: float | None) -> str:
    """SPEC §8.3's socialized haircut at a stress point: "3.7%"; "covered" when the fund
    covers the drawdown; "-" without a balance."""
    if point is None or balance is None:
        return "-"
    allocation = point["allocation"]
    return "covered" if allocation is None else f"{allocation['socialized']:.1%}"


def gap(shock: float | None) -> str:
    return "survives" if shock is None else f"{shock:+.1%}"


def fund_rows(projection: dict[str, Any] | None) -> list[tuple[str, ...]]:
    """Per asset: balance, recommended balance (SPEC §8.1), drawdown at -20%, the cascade's
    multiple of it (§8.2) and the haircut of profits that would pay what the fund lacks there
    (§8.3), depletion down/up, P(depleted) at the longest horizon (`horizon`); from the latest
    projection."""
    if projection is None:
        return []
    rows: list[tuple[str, ...]] = []
    for fund in projection["funds"]:
        stress = {point["shock"]: point for point in fund["stress"]}
        point = stress.get(STRESS_SHOCK)
        longest = fund["monte_carlo"][-1] if fund["monte_carlo"] else {}
        chance = longest.get("depletion_probability")
        probability = "-" if chance is None else f"{chance:.2%}"
        rows.append(
            (
                fund["asset"],
                amount(fund["balance"]),
                amount(fund["recommended_balance"]),
                "-" if point is None else amount(point["drawdown"]),
                "-" if point is None else times(point["cascade"]["multiplier"]),
                haircut(point, fund["balance"]),
                gap(fund["depletion_shock_down"]),
                gap(fund["depletion_shock_up"]),
                probability,
            )
        )
    return rows


def log_line(monitor: Monitor) -> str:
    """One line for a log: time, BTC, accounts per level, transitions, funds."""
    levels = monitor.engine.level_counts()
    marks = monitor.simulator.marks
    parts = [f"sim {clock(monitor.now_ts)}"]
    parts += [f"{symbol} {amount(marks[symbol])}" for symbol in list(marks)[:2]]
    parts.append(" ".join(f"{name} {levels[name]}" for name in LEVEL_NAMES))
    parts.append(f"transitions {monitor.transitions}")
    parts += [
        f"fund {asset} {balance} (-20%: {drawdown}, haircut {cut}, gone at {down})"
        for asset, balance, _, drawdown, _, cut, down, _, _ in fund_rows(monitor.latest)
    ]
    return " | ".join(parts)


class LogView:
    """Plain lines on a stream that is not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = 0.0

    def __enter__(self) -> LogView:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def update(self, monitor: Monitor) -> None:
        now = time.monotonic()
        if now - self.last >= LOG_EVERY_SECONDS:
            self.last = now
            print(log_line(monitor), file=self.stream, flush=True)


class LiveView:
    """The rich screen, redrawn in place after each step."""

    def __init__(self, console: Console, title: str) -> None:
        self.title = title
        self.live = Live(console=console, refresh_per_second=4, screen=False, transient=False)

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(self, *details: Any) -> None:
        self.live.__exit__(*details)

    def update(self, monitor: Monitor) -> None:
        self.live.update(self.render(monitor))

    def render(self, monitor: Monitor) -> Group:
        header = Text(f"{self.title}   simulated {clock(monitor.now_ts)} UTC", style="bold")
        top = Table.grid(padding=(0, 2))
        top.add_row(_marks(monitor), _levels(monitor), _funds(monitor))
        bottom = Table.grid(padding=(0, 2))
        bottom.add_row(_worst(monitor), _feed(monitor))
        return Group(header, top, bottom)


def _marks(monitor: Monitor) -> Panel:
    table = Table("symbol", "mark", "move", box=None)
    opening = monitor.simulator.opening_marks
    for symbol, price in monitor.simulator.marks.items():
        move = price / opening[symbol] - 1
        table.add_row(symbol, amount(price), Text(f"{move:+.1%}", "red" if move < 0 else "green"))
    return Panel(table, title="marks")


def _levels(monitor: Monitor) -> Panel:
    counts = monitor.engine.level_counts()
    total = max(sum(counts.values()), 1)
    table = Table("level", "accounts", "", box=None)
    for name in LEVEL_NAMES:
        bar = "#" * max(0, round(30 * counts[name] / total)) if counts[name] else ""
        style = LEVEL_STYLES[name]
        table.add_row(Text(name, style), str(counts[name]), Text(bar, style))
    table.add_row("transitions", str(monitor.transitions), "")
    return Panel(table, title="margin accounts")


def horizon(projection: dict[str, Any] | None) -> str:
    """The longest Monte Carlo horizon of a projection ("24h"), or "" before one."""
    for fund in (projection or {}).get("funds", []):
        if fund["monte_carlo"]:
            return str(fund["monte_carlo"][-1]["horizon"])
    return ""


def _funds(monitor: Monitor) -> Panel:
    longest = horizon(monitor.latest)
    table = Table(
        "fund", "balance", "recommended", "-20% costs", "cascade", "haircut", "gone down",
        "gone up",
        f"P(gone {longest})", box=None,
    )  # fmt: skip
    rows = fund_rows(monitor.latest)
    for row in rows:
        table.add_row(*row)
    return Panel(table if rows else Text("waiting for the first projection"), title="insurance")


def _worst(monitor: Monitor) -> Panel:
    engine = monitor.engine
    table = Table("margin account", "level", "ratio", "equity", box=None)
    for index in engine.worst_accounts(Level.WATCH, WORST):
        view = engine.account_view(index)
        ratio = "-" if view.margin_ratio is None else f"{view.margin_ratio:.3f}"
        table.add_row(
            view.margin_account,
            Text(view.level, LEVEL_STYLES[view.level]),
            ratio,
            amount(view.equity),
        )
    return Panel(table, title="worst accounts")


def _feed(monitor: Monitor) -> Panel:
    table = Table("time", "margin account", "from", "to", "trigger", box=None)
    for record in list(monitor.recent)[:FEED]:
        table.add_row(
            clock(record["ts"])[11:],
            record["margin_account"],
            Text(record["from"], LEVEL_STYLES[record["from"]]),
            Text(record["to"], LEVEL_STYLES[record["to"]]),
            record["trigger"],
        )
    return Panel(table, title="latest transitions")
