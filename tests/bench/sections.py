"""Each benchmark script owns one marked section of BENCHMARKS.md and rewrites only that."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def write_section(path: Path, text: str, start: str, end: str) -> None:
    """Replace the text between `start` and `end` (markers included) or append it."""
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in current and end in current:
        head, rest = current.split(start, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        current = head + text + tail
    else:
        current = current.rstrip("\n") + "\n\n" + text
    path.write_text(current)


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every benchmark script takes: --write FILE and --quick."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--write", type=Path, help="rewrite this script's section of FILE")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    return parser


def publish(text: str, path: Path | None, start: str, end: str) -> None:
    """Print a script's report, and write it as its section of `path` when given."""
    print(text)
    if path is not None:
        write_section(path, text, start, end)


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    """The median wall time of `repeat` calls of `action`, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
