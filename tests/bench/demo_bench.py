"""Demo benchmark (issue: embedded demo): does a step fit the 250 ms tick?

    .venv/bin/python -m tests.bench.demo_bench --write BENCHMARKS.md   (make bench)

`riskmon demo` moves the simulated clock every `TICK_SECONDS` (250 ms) of wall time, so a
step must take less, or the demo falls behind its speed. For the flash crash at its default
speed (720x: 3 simulated minutes a step) over its whole simulated day, at the default 5,000
accounts and at 20,000, this measures:

(1) a step of the monitor: the desk's take-overs, marks, depth and arrivals, each event
    encoded as JSON and applied through the workers' partition task (`Monitor.step`);
(2) the baseline: the very events the monitor fed, as JSON lines through `riskmon replay`'s
    path (`replay_lines`, batched decode and `Engine.apply_batch`) on a fresh engine, timed
    in the same run. The ratio (1)/(2) is what simulating and the task path cost;
(3) a fund projection of one epoch, which the demo computes in a thread (it must finish
    within a few ticks for the page to stay current).

The report replaces the section between the DEMO markers of the file it writes.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Final

import orjson

from risk.engine import Engine
from streams.config import load_config
from streams.demo.monitor import Monitor
from streams.demo.runner import TICK_SECONDS
from streams.demo.scenarios import SCENARIOS
from streams.replay import replay_lines
from tests.bench.run_bench import machine
from tests.bench.sections import bench_parser, publish

START: Final = "<!-- DEMO:START -->"
END: Final = "<!-- DEMO:END -->"
COMMAND: Final = ".venv/bin/python -m tests.bench.demo_bench --write BENCHMARKS.md"
BEGIN_TS: Final = 1_760_000_000_000


@dataclass(frozen=True)
class DemoRun:
    accounts: int
    steps: int
    step_seconds: list[float]
    replay_seconds: float
    projection_seconds: list[float]
    events: int
    margin_accounts: int


class RecordingMonitor(Monitor):
    """A monitor that keeps every event it feeds, for the replay baseline."""

    def __init__(self, *arguments: Any) -> None:
        super().__init__(*arguments)
        self.fed: list[bytes] = []

    def feed(self, events: list[dict[str, Any]]) -> None:
        self.fed += [orjson.dumps(event) for event in events]
        super().feed(events)


def run(accounts: int, steps: int | None) -> DemoRun:
    config = load_config(None)
    scenario = SCENARIOS["flash-crash"]
    step_ms = round(scenario.speed * TICK_SECONDS * 1000)
    total = steps or int(scenario.duration * 1000 / step_ms)
    monitor = RecordingMonitor(config, scenario, accounts, 7)
    monitor.open(BEGIN_TS)
    step_seconds, projection_seconds = [], []
    for step in range(1, total + 1):
        began = time.perf_counter()
        monitor.step(BEGIN_TS + step * step_ms)
        step_seconds.append(time.perf_counter() - began)
        pending = monitor.take_pending()
        if pending is not None and step % 16 == 0:
            began = time.perf_counter()
            monitor.latest = Monitor.project(*pending)
            projection_seconds.append(time.perf_counter() - began)
    baseline = config.engine()
    began = time.perf_counter()
    replay_lines(monitor.fed, baseline, lambda _: None)
    replay_seconds = time.perf_counter() - began
    check(monitor.engine, baseline)
    return DemoRun(
        accounts,
        total,
        step_seconds,
        replay_seconds,
        projection_seconds,
        len(monitor.fed),
        len(monitor.engine.tracked_accounts()),
    )


def check(demo: Engine, replayed: Engine) -> None:
    """The baseline did the same work: the same accounts at the same levels."""
    if demo.level_counts() != replayed.level_counts():
        raise AssertionError(f"{demo.level_counts()} != {replayed.level_counts()}")


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def report(runs: list[DemoRun]) -> str:
    rows = []
    for item in runs:
        steps = sorted(item.step_seconds)
        p99 = steps[min(len(steps) - 1, int(0.99 * len(steps)))]
        total = sum(steps)
        rows.append(
            f"| {item.accounts:,} ({item.margin_accounts:,} at the end) | {item.steps} | "
            f"{milliseconds(statistics.median(steps))} / {milliseconds(p99)} / "
            f"{milliseconds(steps[-1])} | {p99 / TICK_SECONDS:.2f} | "
            f"{item.events:,} | {total:.2f} s / {item.replay_seconds:.2f} s = "
            f"{total / item.replay_seconds:.1f}x | "
            f"{milliseconds(statistics.median(item.projection_seconds))} / "
            f"{milliseconds(max(item.projection_seconds))} |"
        )
    facts = machine()
    return "\n".join(
        [
            START,
            "## Demo (issue: embedded demo)",
            "",
            f"`{COMMAND}`; {facts['nproc']} cores ({facts['cpu']}), Python {facts['python']},"
            f" numpy {facts['numpy']}. The flash crash at its default 720x, one step per "
            f"{TICK_SECONDS * 1000:.0f} ms tick (3 simulated minutes), over its simulated day.",
            "",
            "| opening accounts | steps | step p50 / p99 / max | p99 / tick | events fed | "
            "all steps / the same events replayed | projection p50 / max (thread) |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            "A step must stay under the tick (p99 / tick < 1) or the demo runs slower than its"
            " speed. The replay column is the baseline measured in the same run: the events the"
            " monitor fed, through `replay_lines` on a fresh engine (the same levels at the end"
            " are checked). Its ratio is what the simulator, JSON encoding and the partition"
            " task's bookkeeping cost on top of the engine.",
            END,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    arguments = parser.parse_args(argv)
    if arguments.quick:
        runs = [run(300, steps=40)]
    else:
        runs = [run(5_000, steps=None), run(20_000, steps=None)]
    text = report(runs)
    publish(text, arguments.write, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
