"""`riskmon whatif` (SPEC §10.1): the command line around `streams.whatif`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from streams.command_files import CommandError, open_events, output
from streams.config import load_config
from streams.kernels import prepare_kernels
from streams.progress import Progress
from streams.whatif import report_line, whatif_lines


def add_whatif(commands: Any) -> None:
    whatif = commands.add_parser(
        "whatif", help="replay a JSONL event file under a proposed and a base configuration"
    )
    whatif.add_argument("events", type=Path, help="JSONL file of SPEC §3 events")
    whatif.add_argument(
        "--config", type=Path, required=True, help="the proposed TOML instruments and levels"
    )
    whatif.add_argument(
        "--base", type=Path, help="the configuration in force (default: the shipped set)"
    )
    whatif.add_argument("--out", type=Path, help="the report JSON (default: stdout)")
    whatif.add_argument("--report", action="store_true", help="print a one-line summary to stderr")


def run_whatif(arguments: argparse.Namespace) -> int:
    proposed, base = load_config(arguments.config), load_config(arguments.base)
    prepare_kernels(sys.stderr)
    engines = (base.engine(), proposed.engine())
    events_path: Path = arguments.events
    with open_events(events_path) as source:
        progress = Progress.for_file(source, sys.stderr)
        try:
            document = whatif_lines(source, engines, progress)
        except OSError as error:
            raise CommandError(f"cannot read {events_path}: {error.strerror or error}") from None
        progress.finish()
    target = arguments.out or "stdout"
    try:
        with output(arguments.out) as out:
            out.write(json.dumps(document, indent=2, allow_nan=False) + "\n")
            out.flush()
    except OSError as error:
        raise CommandError(f"cannot write {target}: {error.strerror or error}") from None
    if arguments.report:
        print(report_line(document), file=sys.stderr)
    return 0
