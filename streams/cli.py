"""The `riskmon` command line.

    riskmon replay EVENTS.jsonl [--config FILE] [--out FILE] [--summary FILE] [--report]
                  [--fund-out FILE]
    riskmon whatif EVENTS.jsonl --config PROPOSED [--base CURRENT] [--out FILE] [--report]
    riskmon worker
    riskmon publish EVENTS.jsonl [--interval-ms N]
    riskmon tail [--topic NAME] [--from-beginning] [--idle-exit SECONDS]
    riskmon demo [--scenario NAME] [--accounts N] [--seed N] [--speed X] [--duration SECONDS]
                 [--port N] [--config FILE]
    riskmon dashboards push --url URL [--token TOKEN] [--folder UID] [--datasource-uid UID]

`worker`, `publish` and `tail` read their Kafka settings from RISKMON_ variables
(docs/STREAMS.md); `dashboards push` takes its token from --token or RISKMON_GRAFANA_TOKEN
(kept out of the process list). Exit status: 0 on success, 2 with a one-line error when an
input, the config, a setting, an output, the broker or Grafana cannot be used.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any, NoReturn, TextIO

from risk.engine import Engine
from risk.fund.report import fund_sections
from streams.command_files import CommandError, amount, open_events, output, write_json
from streams.config import ConfigError, load_config
from streams.kafka.checkpoints import CheckpointError
from streams.kafka.client import BrokerError
from streams.kafka.publish import publish_file
from streams.kafka.runner import run_worker, tail
from streams.kernels import prepare_kernels
from streams.pipes import silence_stdout
from streams.progress import Progress
from streams.replay import ReplayReport, replay_lines, summary_document, watch_fund
from streams.settings import SettingsError, check_web_binding, load_settings
from streams.whatif_command import add_whatif, run_whatif

USAGE_ERROR = 2


class OneLineParser(argparse.ArgumentParser):
    """Bad options are one line on stderr (no usage dump), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="riskmon", description="Real-time risk monitor.")
    commands = parser.add_subparsers(dest="command", required=True)
    replay = commands.add_parser("replay", help="run the engine over a JSONL event file")
    replay.add_argument("events", type=Path, help="JSONL file of SPEC §3 events")
    replay.add_argument("--config", type=Path, help="TOML instruments and level thresholds")
    replay.add_argument("--out", type=Path, help="transitions JSONL (default: stdout)")
    replay.add_argument("--summary", type=Path, help="write the SPEC §10 summary JSON here")
    replay.add_argument("--report", action="store_true", help="print a short report to stderr")
    replay.add_argument(
        "--fund-out", type=Path, help="write the riskmon.fund records of every epoch here"
    )
    commands.add_parser("worker", help="run a Kafka worker (settings: RISKMON_ variables)")
    publish = commands.add_parser("publish", help="write a replay file to the input topics")
    publish.add_argument("events", type=Path, help="JSONL file of SPEC §3 events")
    publish.add_argument(
        "--interval-ms",
        type=_non_negative,
        default=0,
        help="wait for each line's acknowledgement, then this long (default 0: no waiting)",
    )
    tail = commands.add_parser("tail", help="print the liquidation topic, one record per line")
    tail.add_argument("--topic", help="another topic to print (default: the liquidation topic)")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    tail.add_argument(
        "--idle-exit", type=float, help="exit after this many seconds without a record"
    )
    add_whatif(commands)
    _add_dashboards(commands)
    _add_demo(commands)
    return parser


def _add_demo(commands: Any) -> None:
    from streams.demo.scenarios import SCENARIOS

    demo = commands.add_parser(
        "demo", help="simulate a market and run the monitor on it: live view, web page, metrics"
    )
    demo.add_argument(
        "--scenario", choices=sorted(SCENARIOS), default="flash-crash", help="market scenario"
    )
    demo.add_argument(
        "--accounts", type=_bounded(int, 1, 200_000), default=5000, help="traders (5000)"
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed of the book and marks (7)")
    demo.add_argument(
        "--speed",
        type=_bounded(float, 0.001, 100_000),
        help="simulated seconds per second (default: the scenario's, ~2 minutes for its move)",
    )
    demo.add_argument(
        "--duration", type=_bounded(float, 0.1, 1e9), help="stop after this many seconds"
    )
    demo.add_argument(
        "--port", type=_bounded(int, 0, 65535), default=8066, help="web port (8066; 0: any)"
    )
    demo.add_argument("--config", type=Path, help="TOML instruments and levels (shipped set)")


def _bounded(kind: type[int] | type[float], low: float, high: float) -> Any:
    """An argparse type: a number of `kind` in [low, high]."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low:g}, {high:g}], not {text}")
        return value

    return parse


def _add_dashboards(commands: Any) -> None:
    dashboards = commands.add_parser("dashboards", help="Grafana dashboards (dashboards/)")
    actions = dashboards.add_subparsers(dest="action", required=True)
    push = actions.add_parser("push", help="upload the dashboards to a Grafana server")
    push.add_argument("--url", required=True, help="Grafana base URL, e.g. http://127.0.0.1:3000")
    push.add_argument("--token", help="service account token (default: RISKMON_GRAFANA_TOKEN)")
    push.add_argument("--folder", default="riskmon", help="folder uid (created if missing)")
    push.add_argument(
        "--datasource-uid",
        default="prometheus",
        help="uid of the Prometheus datasource the panels query (default: prometheus)",
    )


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        if arguments.command == "replay":
            return run_replay(arguments)
        if arguments.command == "dashboards":
            return run_dashboards_push(arguments)
        if arguments.command == "demo":
            return run_demo_command(arguments)
        if arguments.command == "whatif":
            return run_whatif(arguments)
        return run_kafka_command(arguments)
    except (CommandError, ConfigError, SettingsError, BrokerError, CheckpointError) as error:
        print(f"riskmon: error: {error}", file=sys.stderr)
        return USAGE_ERROR


def run_kafka_command(arguments: argparse.Namespace) -> int:
    """`worker`, `publish` and `tail`: settings from the environment, then the broker."""
    settings = load_settings()
    if arguments.command == "worker":
        check_web_binding(settings)  # before anything is compiled or asked of the broker
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        config = load_config(settings.config)
        prepare_kernels(sys.stderr)
        asyncio.run(run_worker(settings, config))
    elif arguments.command == "publish":
        try:
            report = asyncio.run(publish_file(arguments.events, settings, arguments.interval_ms))
        except OSError as error:
            raise CommandError(
                f"cannot read {arguments.events}: {error.strerror or error}"
            ) from None
        topics = ", ".join(f"{topic} {count}" for topic, count in sorted(report.by_topic.items()))
        print(f"published: {topics}; dead letters {report.dead_letters}", file=sys.stderr)
    else:
        topic = arguments.topic or settings.topics.liquidations
        asyncio.run(tail(settings, topic, arguments.from_beginning, arguments.idle_exit))
    return 0


def run_dashboards_push(arguments: argparse.Namespace) -> int:
    """Upload the generated dashboards; one line per dashboard on stderr."""
    from streams.observability.grafana import (  # 0.3 s: only here
        PushError,
        PushTarget,
        push_dashboards,
    )

    token = arguments.token or load_settings().grafana_token
    if not token:
        raise CommandError("no Grafana token: pass --token or set RISKMON_GRAFANA_TOKEN")
    target = PushTarget(
        url=arguments.url.rstrip("/"),
        token=token,
        folder_uid=arguments.folder,
        datasource_uid=arguments.datasource_uid,
    )
    try:
        push_dashboards(target, lambda line: print(line, file=sys.stderr))
    except PushError as error:
        raise CommandError(str(error)) from None
    return 0


def run_demo_command(arguments: argparse.Namespace) -> int:
    """The embedded demo: no broker, the workers' path, until --duration or Ctrl-C."""
    from streams.demo.runner import DemoOptions, run_demo
    from streams.demo.scenarios import SCENARIOS
    from streams.demo.web import PortBusyError

    config = load_config(arguments.config)
    prepare_kernels(sys.stderr)
    scenario = SCENARIOS[arguments.scenario]
    options = DemoOptions(
        scenario=scenario,
        accounts=arguments.accounts,
        seed=arguments.seed,
        speed=arguments.speed or scenario.speed,
        duration=arguments.duration,
        port=arguments.port,
    )
    try:
        asyncio.run(run_demo(config, options, sys.stdout, sys.stderr))
    except PortBusyError as error:
        raise CommandError(str(error)) from None
    return 0


def run_replay(arguments: argparse.Namespace) -> int:
    config = load_config(arguments.config)
    prepare_kernels(sys.stderr)
    engine = config.engine()
    events_path: Path = arguments.events
    source = open_events(events_path)
    target = arguments.out or "stdout"
    fund_out = nullcontext(None) if arguments.fund_out is None else output(arguments.fund_out)
    try:
        with source, output(arguments.out) as out, fund_out as projections:
            if projections is not None:
                watch_fund(engine, lambda line: projections.write(line + "\n"))
            progress = Progress.for_file(source, sys.stderr)

            reader_gone = False

            def emit(line: str) -> None:
                nonlocal reader_gone
                if reader_gone:
                    return
                try:
                    out.write(line + "\n")
                except BrokenPipeError:
                    if out is not sys.stdout:
                        raise CommandError(f"cannot write {target}: broken pipe") from None
                    reader_gone = True  # `riskmon replay | head`: finish the replay quietly
                    silence_stdout()
                except OSError as error:
                    raise CommandError(
                        f"cannot write {target}: {error.strerror or error}"
                    ) from None

            try:
                report = replay_lines(source, engine, emit, progress)
            except OSError as error:
                raise CommandError(
                    f"cannot read {events_path}: {error.strerror or error}"
                ) from None
            progress.finish()
    except OSError as error:  # flushing the output on close
        raise CommandError(f"cannot write {target}: {error.strerror or error}") from None
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
    fund = fund_sections(engine) if arguments.summary or arguments.report else {}
    if arguments.summary is not None:
        write_json(arguments.summary, summary_document(engine, report, fund))
    if arguments.report:
        _print_report(report, engine, sys.stderr)
        for record in fund["funds"]:
            print(fund_line(record), file=sys.stderr)
    return 0


def _print_report(report: ReplayReport, engine: Engine, stream: TextIO) -> None:
    events = report.events
    print(
        f"events: {events['accepted']} accepted, {events['rejected']} rejected, "
        f"{events['stale']} stale; {report.transitions} transitions",
        file=stream,
    )
    levels = engine.level_counts()
    print(
        "margin accounts by level: " + ", ".join(f"{k} {v}" for k, v in levels.items()), file=stream
    )
    reasons: dict[str, int] = {}
    for _, reason in report.rejects:
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in sorted(reasons.items()):
        print(f"rejected ({reason}): {count}", file=stream)


def fund_line(record: dict[str, Any]) -> str:
    """One line of the fund projection of an asset, for people."""
    asset, balance = record["asset"], record["balance"]
    parts = [f"fund {asset}: balance {amount(balance)}"]
    if record["drawdown_8h"] is not None:
        parts.append(f"8h drawdown {record['drawdown_8h']:.1%}")
    downs = [point for point in record["stress"] if point["shock"] < 0]
    if downs:
        point = min(downs, key=lambda item: abs(item["shock"] + 0.2))
        parts.append(
            f"a {-point['shock']:.0%} gap down costs {amount(point['drawdown'])} "
            f"({point['bankrupt_accounts']} accounts owe)"
        )
        parts += _shortfall(point, balance)
    if balance is not None:
        gone = [
            f"{shock:+.2%}"
            for shock in (record["depletion_shock_down"], record["depletion_shock_up"])
            if shock is not None
        ]
        parts.append(f"gone at a gap of {' or '.join(gone)}" if gone else "survives every gap")
    for stats in record["monte_carlo"][-1:]:
        probability = stats["depletion_probability"]
        if probability is not None:
            parts.append(f"P(depleted in {stats['horizon']}) {probability:.2%}")
    return "; ".join(parts)


def _shortfall(point: dict[str, Any], balance: float | None) -> list[str]:
    """What would pay what the fund lacks at that gap (SPEC §8.3), if it lacks anything."""
    allocation = point["allocation"]
    if allocation is None or balance is None:
        return []
    short = amount(point["drawdown"] - max(balance, 0.0))
    cells = [cell for sides in allocation["adl"].values() for cell in sides.values()]
    positions = sum(cell["positions"] for cell in cells)
    return [
        f"the fund is {short} short there: ADL of {positions} positions or a "
        f"{allocation['socialized']:.1%} haircut of profits"
    ]


if __name__ == "__main__":
    raise SystemExit(main())
