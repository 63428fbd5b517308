"""The reconciliation sweep (issue: hardening) on the book of (a): 1M positions in 500k margin
accounts. Target: the whole book covered at least every 60 s.

A worker runs a slice every 100 ms sized for a pass every 30 s (`streams.kafka.reconciling`),
so what a pass costs decides what the sweep takes from the rounds. The floor is one numpy
pass over the position columns: each row's uPnL at the mark, |size| x (mark - entry).
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any, Final

import numpy as np

from risk.book import float_view
from risk.engine import Engine
from streams.kafka.reconciling import INTERVAL_SECONDS, MIN_BUDGET, PASS_SECONDS
from tests.bench.books import SYMBOL, book_specs, build_engine
from tests.bench.sections import bench_parser, median_seconds, publish

START, END = "<!-- reconcile:start -->", "<!-- reconcile:end -->"
TARGET_SECONDS: Final = 60.0
REPEAT: Final = 5


def whole_pass(engine: Engine) -> float:
    """Seconds of one pass over the book in one call."""
    while not engine.reconcile(0.0, 10**12).completed:  # to the start of a pass
        pass
    started = time.perf_counter()
    found = engine.reconcile(0.0, 10**12)
    seconds = time.perf_counter() - started
    if not found.completed or found.repaired:
        raise RuntimeError(f"a pass over a clean book: {found.accounts} accounts, drift")
    return seconds


def slice_seconds(engine: Engine, budget: int) -> float:
    return median_seconds(lambda: engine.reconcile(0.0, budget), 50)


def floor_seconds(engine: Engine) -> float:
    code = engine.symbols[SYMBOL]
    block, mark = engine.blocks[code], engine.marks[code] or 0.0
    size = float_view(block.size)[: len(block)]
    entry = float_view(block.entry)[: len(block)]
    return median_seconds(lambda: np.abs(size) * (mark - entry), REPEAT)


def run(accounts: int) -> dict[str, Any]:
    engine = build_engine(book_specs(accounts))
    positions = sum(len(block) for block in engine.blocks)
    work = len(engine.margin) + positions
    budget = max(MIN_BUDGET, int(work * INTERVAL_SECONDS / PASS_SECONDS))
    passes = [whole_pass(engine) for _ in range(REPEAT)]
    return {
        "accounts": accounts,
        "positions": positions,
        "pass_seconds": statistics.median(passes),
        "slice_budget": budget,
        "slice_seconds": slice_seconds(engine, budget),
        "floor_seconds": floor_seconds(engine),
    }


def report(result: dict[str, Any], command: str) -> str:
    whole, floor = result["pass_seconds"], result["floor_seconds"]
    share = result["slice_seconds"] / INTERVAL_SECONDS
    covered = PASS_SECONDS if whole < PASS_SECONDS else whole
    ok = covered <= TARGET_SECONDS
    return "\n".join(
        [
            START,
            f"## Reconciliation sweep: {result['positions']:,} positions",
            "",
            f"Reproduce: `{command}` (part of `make bench`). The book of (a); a worker's pacing: "
            f"a slice of {result['slice_budget']:,} units every {INTERVAL_SECONDS * 1e3:.0f} ms, "
            f"a pass every {PASS_SECONDS:.0f} s.",
            "",
            "| figure | measured | target |",
            "|---|---|---|",
            f"| the whole book covered every | {covered:.0f} s | <= {TARGET_SECONDS:.0f} s: "
            f"{'met' if ok else 'MISSED'} |",
            f"| one pass over the book, in one call | {whole * 1e3:.0f} ms | |",
            f"| one slice, and its share of a worker's time | {result['slice_seconds'] * 1e3:.2f} "
            f"ms, {share:.2%} | |",
            f"| floor: one numpy pass, every row's uPnL at the mark | {floor * 1e3:.1f} ms | |",
            f"| pass / floor | {whole / floor:.1f}x | |",
            "",
            "A pass follows each account's position list (scattered rows) and values each "
            "position with its tier lookup, where the floor streams one column.",
            END,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    arguments = bench_parser(__doc__).parse_args(argv)
    result = run(2_000 if arguments.quick else 500_000)
    print(json.dumps(result), flush=True)
    command = "python -m tests.bench.reconcile_bench" + (" --quick" if arguments.quick else "")
    publish(report(result, command), arguments.write, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
