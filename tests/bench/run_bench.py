"""`make bench`: riskmon's speed and memory, each next to a baseline measured in the same run.

    .venv/bin/python -m tests.bench.run_bench --write BENCHMARKS.md   (full sizes, minutes)
    .venv/bin/python -m tests.bench.run_bench --quick                 (tiny sizes, a smoke run)

(The mark tick, (a), is `tests/bench/tick_bench.py`.)
(b) `riskmon replay` throughput on a generated 2M-event file, against the scalar reference
    (`tests/reference.py`) on the file's first 20k events;
(c) resident memory per position at 1M positions, against a list of dicts, in fresh processes.

A target that is missed is profiled (cProfile), and the report says where the time goes
(`tests/bench/replay_paths.py` for (b)).
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from risk.engine.warmup import warm_up
from streams import cli
from tests.bench.books import (
    SYMBOL,
    book_specs,
    build_engine,
    column_bytes,
    footprint,
    naive_book,
)
from tests.bench.generate import write_stream
from tests.bench.replay_paths import breakdown_section, replay_breakdown
from tests.bench.sections import publish
from tests.bench.whatif_bench import whatif_row, whatif_timing

REPO = Path(__file__).resolve().parents[2]
COMMAND = "make bench"
DIRECT_COMMAND = ".venv/bin/python -m tests.bench.run_bench --write BENCHMARKS.md"
REPLAY_TARGET = 150_000.0  # engine issue (b)
MEMORY_TARGET = 200.0  # engine issue (c)
START, END = "<!-- RUN:START -->", "<!-- RUN:END -->"


@dataclass(frozen=True)
class Sizes:
    accounts: int  # (c): margin accounts of the book, 2 positions each
    events: int  # (b): lines of the replay file
    replay_accounts: int
    baseline_lines: int  # the reference's share of the file
    breakdown_lines: int  # lines timed step by step in the second replay
    profile_lines: int  # lines profiled after those


FULL = Sizes(500_000, 2_000_000, 100_000, 20_000, 1_000_000, 100_000)
QUICK = Sizes(2_000, 20_000, 2_000, 2_000, 10_000, 2_000)


# -- (b) replay throughput ----------------------------------------------------------------------


def replay_benchmark(
    events: int,
    accounts: int,
    *,
    baseline_lines: int,
    breakdown_lines: int,
    profile_lines: int,
    profile: bool | None = None,
) -> dict[str, Any]:
    """`riskmon replay FILE --out OUT`, in process, on a generated file; then the baselines and,
    with `profile` (None: only if the target is missed), where the time goes."""
    with tempfile.TemporaryDirectory(prefix="riskmon-bench-") as directory:
        path, out = Path(directory) / "events.jsonl", Path(directory) / "transitions.jsonl"
        started = time.perf_counter()
        counts = write_stream(path, events=events, accounts=accounts)
        generate_seconds = time.perf_counter() - started
        gc.collect()
        started = time.perf_counter()
        status = cli.main(["replay", str(path), "--out", str(out)])
        seconds = time.perf_counter() - started
        if status != 0:
            raise RuntimeError(f"riskmon replay exited with status {status}")
        transitions = _count_lines(out)
        size = path.stat().st_size
        with path.open("rb") as source:
            head = list(islice(source, baseline_lines))
        head_path = Path(directory) / "head.jsonl"
        head_path.write_bytes(b"".join(head))
        started = time.perf_counter()
        cli.main(["replay", str(head_path), "--out", str(out)])
        head_seconds = time.perf_counter() - started
        head_transitions = _count_lines(out)
        whatif = whatif_timing(path, Path(directory))
        missed = events / seconds < REPLAY_TARGET
        profiled = profile_lines if profile or (profile is None and missed) else 0
        with path.open("rb") as source:
            breakdown = replay_breakdown(source, breakdown_lines, profiled)
    reference = reference_baseline(head)
    return {
        "lines": events,
        "accounts": accounts,
        "bytes": size,
        "counts": counts,
        "generate_seconds": generate_seconds,
        "seconds": seconds,
        "events_per_second": events / seconds,
        "transitions": transitions,
        "head_lines": len(head),
        "head_seconds": head_seconds,
        "head_events_per_second": len(head) / head_seconds,
        "head_transitions": head_transitions,
        "reference": reference,
        "speedup_same_lines": (len(head) / head_seconds) / reference["events_per_second"],
        "breakdown": breakdown,
        "whatif": whatif,
    }


def reference_baseline(head: list[bytes]) -> dict[str, Any]:
    """tests/reference.py's `reference_replay` on the same first lines, events per second."""
    from tests.reference import reference_replay
    from tests.reference_input import load_reference_config

    source = resources.files("streams.data").joinpath("instruments.toml")
    with resources.as_file(source) as config_path:
        config = load_reference_config(Path(config_path))
    started = time.perf_counter()
    transitions, summary = reference_replay(head, config)
    seconds = time.perf_counter() - started
    return {
        "lines": len(head),
        "seconds": seconds,
        "events_per_second": len(head) / seconds,
        "transitions": len(transitions),
        "events": summary["events"],
    }


def _count_lines(path: Path) -> int:
    with path.open("rb") as source:
        return sum(1 for _ in source)


# -- (c) memory ---------------------------------------------------------------------------------


def resident_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def memory_probe(kind: str, accounts: int) -> dict[str, Any]:
    """In a fresh process: the growth of VmRSS while the book is built (inputs made before,
    and the compiled kernels loaded before: numba's runtime is the process's, not the book's)."""
    specs = book_specs(accounts)
    warm_up()
    gc.collect()
    before = resident_bytes()
    held: Any
    if kind == "engine":
        held = build_engine(specs)
        positions = len(held.blocks[held.symbols[SYMBOL]])
        columns = column_bytes(held)
    else:
        held = naive_book(specs)
        positions, columns = len(held[0]), 0
    gc.collect()
    after = resident_bytes()
    parts = footprint(held) if kind == "engine" else {}
    return {"kind": kind, "bytes": after - before, "positions": positions, "columns": columns,
            "parts": parts}  # fmt: skip


def memory_benchmark(accounts: int) -> dict[str, Any]:
    """`memory_probe` of the engine and of the naive representation, each in a new process."""
    results = {}
    for kind in ("engine", "naive"):
        command = [sys.executable, "-m", "tests.bench.run_bench", "--memory-probe", kind]
        command += ["--accounts", str(accounts)]
        completed = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
        results[kind] = json.loads(completed.stdout.strip().splitlines()[-1])
    positions = results["engine"]["positions"]
    engine_per = results["engine"]["bytes"] / positions
    naive_per = results["naive"]["bytes"] / results["naive"]["positions"]
    return {
        "accounts": accounts,
        "positions": positions,
        "naive_positions": results["naive"]["positions"],
        "engine_bytes_per_position": engine_per,
        "column_bytes_per_position": results["engine"]["columns"] / positions,
        "parts_per_position": {
            part: size / positions for part, size in results["engine"]["parts"].items()
        },
        "naive_bytes_per_position": naive_per,
        "ratio": naive_per / engine_per if engine_per > 0 else float("inf"),
    }


# -- the report ---------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": model,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "system": f"{platform.system()} {platform.release()}",
    }


def report(
    replay: dict[str, Any],
    memory: dict[str, Any],
    *,
    info: dict[str, str],
    seconds: float,
    command: str,
) -> str:
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    reference = replay["reference"]
    reproduce = f"`{command}`"
    if command == COMMAND:
        reproduce += f", which runs `{DIRECT_COMMAND}`"
    lines = [
        START,
        "## Replay and memory (`run_bench`)",
        "",
        f"Measured {today} on {info['nproc']} CPUs (`nproc`), {info['cpu']} "
        f"(`/proc/cpuinfo`), {info['system']}; Python {info['python']}, numpy {info['numpy']}. "
        f"The whole run took {seconds / 60:.1f} min.",
        "",
        f"Reproduce: {reproduce}. Every figure is next to a "
        "baseline measured in the same run. The harness is `tests/bench/` (the book of (c): "
        "`books.py`; the replay file of (b): `generate.py`); the mark tick (a) is its own "
        "section below (`tick_bench`).",
        "",
        "| target | result | baseline (same run) | verdict |",
        "|---|---|---|---|",
        f"| (b) replay >= {REPLAY_TARGET:,.0f} events/s | "
        f"{replay['events_per_second']:,.0f} events/s | "
        f"reference {reference['events_per_second']:,.0f} events/s "
        f"(first {reference['lines']:,} lines) | "
        f"{_verdict(replay['events_per_second'] >= REPLAY_TARGET)} |",
        f"| (c) memory <= {MEMORY_TARGET:.0f} bytes/position | "
        f"{memory['engine_bytes_per_position']:.0f} bytes/position | "
        f"list of dicts {memory['naive_bytes_per_position']:.0f} bytes/position | "
        f"{_verdict(memory['engine_bytes_per_position'] <= MEMORY_TARGET)} |",
        whatif_row(replay),
        "",
    ]
    lines += _replay_section(replay)
    lines += _memory_section(memory)
    lines += [END, ""]
    return "\n".join(lines)


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _replay_section(replay: dict[str, Any]) -> list[str]:
    counts, reference = replay["counts"], replay["reference"]
    mix = ", ".join(
        f"{kind} {count:,} ({count / replay['lines']:.1%})" for kind, count in counts.items()
    )
    agree = (
        "both wrote the same number of transitions."
        if reference["transitions"] == replay["head_transitions"]
        else f"WARNING: the reference found {reference['transitions']} transitions, the engine "
        f"{replay['head_transitions']}."
    )
    lines = [
        f"## (b) Replay throughput: {replay['lines']:,} events",
        "",
        f"The file ({replay['bytes'] / 1e6:.0f} MB, generated from a seed in "
        f"{replay['generate_seconds']:.0f} s, not timed): {replay['accounts']:,} accounts "
        "trading the 10 shipped default instruments (linear USDT and USDC, inverse BTC and "
        "ETH), 30% of accounts in hedge mode, 10% of positions isolated, heavy-tailed activity; "
        f"lines by kind: {mix}. Marks are a random walk per symbol (sigma 0.03% x beta a step, "
        "every symbol once a second of event time); an account that reaches its maintenance "
        "margin is liquidated by the stream right after that mark. See "
        "`tests/bench/generate.py`.",
        "",
        "Timed: `streams.cli.main(['replay', FILE, '--out', OUT])` in process, that is reading, "
        "JSON decoding, validation, the engine, and encoding and writing every transition.",
        "",
        "| run | lines | seconds | events/s | transitions |",
        "|---|---|---|---|---|",
        f"| `riskmon replay`, the whole file | {replay['lines']:,} | {replay['seconds']:.1f} | "
        f"**{replay['events_per_second']:,.0f}** | {replay['transitions']:,} |",
        f"| `riskmon replay`, first {replay['head_lines']:,} lines | {replay['head_lines']:,} | "
        f"{replay['head_seconds']:.2f} | {replay['head_events_per_second']:,.0f} | "
        f"{replay['head_transitions']:,} |",
        f"| baseline: `reference_replay` (`tests/reference.py`), first {reference['lines']:,} "
        f"lines | {reference['lines']:,} | {reference['seconds']:.1f} | "
        f"{reference['events_per_second']:,.0f} | {reference['transitions']:,} (not encoded) |",
        "",
        f"On the same first {replay['head_lines']:,} lines the engine is "
        f"{replay['speedup_same_lines']:,.0f}x faster than the reference, and {agree} The "
        "reference re-sums an account from every open position after each event, so its cost "
        "grows with the book: it is a correctness oracle, not a contender.",
        "",
    ]
    return lines + breakdown_section(replay["breakdown"])


def _memory_section(memory: dict[str, Any]) -> list[str]:
    return [
        f"## (c) Resident memory at {memory['positions']:,} positions",
        "",
        "| representation | bytes per position |",
        "|---|---|",
        f"| riskmon's engine, the book of (a) | **{memory['engine_bytes_per_position']:.0f}** |",
        "| baseline: a dict per position, a wallet dict entry per account | "
        f"{memory['naive_bytes_per_position']:.0f} |",
        "",
        "Growth of VmRSS (`/proc/self/status`) while the book is built, each in a fresh process "
        "(its inputs are made before the first reading). The engine's figure holds every "
        "column, index, account name and margin account; its typed columns account for "
        f"{memory['column_bytes_per_position']:.0f} bytes per position, the rest is Python "
        "objects (account names, the name and margin-account dicts) and the spare room of "
        f"growing arrays. The dicts take {memory['ratio']:.1f}x the engine's memory.",
        "",
        "Where the engine's bytes are (`tests.bench.books.footprint`, `sys.getsizeof`, so "
        "the allocator's own overhead is the difference to the figure above):",
        "",
        "| holder | bytes per position |",
        "|---|---|",
        *(
            f"| `{part}` | {size:.1f} |"
            for part, size in memory.get("parts_per_position", {}).items()
        ),
        "",
    ]


# -- entry point --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="riskmon benchmarks (tests/bench)")
    parser.add_argument("--write", type=Path, help="write the report (markdown) here")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument("--memory-probe", choices=("engine", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--accounts", type=int, default=FULL.accounts, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.memory_probe:
        print(json.dumps(memory_probe(arguments.memory_probe, arguments.accounts)))
        return 0
    sizes = QUICK if arguments.quick else FULL
    started = time.perf_counter()
    info = machine()
    print(json.dumps(info), flush=True)
    gc.collect()
    memory = memory_benchmark(sizes.accounts)
    print(json.dumps(memory), flush=True)
    replay = replay_benchmark(
        sizes.events,
        sizes.replay_accounts,
        baseline_lines=sizes.baseline_lines,
        breakdown_lines=sizes.breakdown_lines,
        profile_lines=sizes.profile_lines,
    )
    print(json.dumps({k: v for k, v in replay.items() if k != "breakdown"}), flush=True)
    command = COMMAND if not arguments.quick else "python -m tests.bench.run_bench --quick"
    seconds = time.perf_counter() - started
    text = report(replay, memory, info=info, seconds=seconds, command=command)
    publish(text, arguments.write, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
