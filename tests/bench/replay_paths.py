"""Where the (b) replay's time goes (`run_bench`): each kind of line through the per-event
path with a clock around each step, then the replay as it runs (in bulk) under cProfile, with
the rows of each kind counted by the path that applied them (the compiled kernel or the
per-event path, `BatchOutcome.compiled`).
"""

from __future__ import annotations

import cProfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from risk import REJECTED, STALE, Engine, Rejection
from risk.batch import BALANCE, MARK, POSITION, EventBatch
from risk.engine.bulk import BatchOutcome
from risk.events import MarkEvent
from streams.codec import decode_event, encode_record
from streams.columns import decode_lines
from streams.config import load_config
from streams.replay import BATCH_LINES
from tests.bench.profiles import profile_summary, profile_tables

ROW_KINDS = {MARK: "mark", POSITION: "position", BALANCE: "balance"}


def replay_breakdown(lines: Iterable[bytes], timed: int, profiled: int) -> dict[str, Any]:
    """The replay again: the first `timed` lines one at a time through `Engine.apply`, with a
    clock around each step, by kind of line (the event type of accepted lines, `rejected`,
    `stale`); then the `profiled` lines after them in bulk, as `riskmon replay` runs, under
    cProfile."""
    engine = load_config(None).engine()
    source: Iterator[bytes] = iter(lines)
    outcomes: Counter[str] = Counter({"accepted": 0, "rejected": 0, "stale": 0})
    result = _timed_one_by_one(engine, islice(source, timed), outcomes)
    if profiled:
        result["profile"] = _profiled_in_bulk(engine, list(islice(source, profiled)), outcomes)
    result["outcomes"] = dict(outcomes)
    return result


def _timed_one_by_one(
    engine: Engine, lines: Iterable[bytes], outcomes: Counter[str]
) -> dict[str, Any]:
    kinds: dict[str, list[float]] = {}  # kind -> [lines, decode s, apply s, encode s, records]
    revalued = 0
    clock = time.perf_counter
    for line in lines:
        started = clock()
        event = decode_event(line)
        decoded = clock()
        if isinstance(event, MarkEvent) and event.symbol in engine.symbols:
            revalued += len(engine.blocks[engine.symbols[event.symbol]])
        outcome = engine.apply(event)
        applied = clock()
        for transition in outcome.transitions:
            encode_record(transition.as_record())
        encoded = clock()
        if outcome.status == REJECTED or isinstance(event, Rejection):
            kind = "rejected"
        elif outcome.status == STALE:
            kind = "stale"
        else:
            kind = type(event).__name__.removesuffix("Event").lower()
        outcomes[outcome.status] += 1
        row = kinds.setdefault(kind, [0.0, 0.0, 0.0, 0.0, 0.0])
        row[0] += 1
        row[1] += decoded - started
        row[2] += applied - decoded
        row[3] += encoded - applied
        row[4] += len(outcome.transitions)
    return {
        "kinds": {
            kind: dict(zip(("lines", "decode", "apply", "encode", "records"), row, strict=True))
            for kind, row in sorted(kinds.items(), key=lambda item: -sum(item[1][1:4]))
        },
        "positions_revalued": revalued,
        "open_positions": sum(len(block) for block in engine.blocks),
        "tracked_accounts": len(engine.tracked_accounts()),
    }


def _profiled_in_bulk(engine: Engine, lines: list[bytes], outcomes: Counter[str]) -> dict[str, Any]:
    """`replay_lines`' loop (decode to columns, `apply_batch`, encode) under cProfile; the
    rows of each kind by the path that applied them."""
    paths: Counter[tuple[str, str]] = Counter()
    profiler = cProfile.Profile()
    profiler.enable()
    for start in range(0, len(lines), BATCH_LINES):
        batch = decode_lines(lines[start : start + BATCH_LINES])
        result = engine.apply_batch(batch)
        outcomes.update(result.counts())
        for _, transitions in result.transitions:
            for transition in transitions:
                encode_record(transition.as_record())
        _count_paths(batch, result, paths)
    profiler.disable()
    return {
        "lines": len(lines),
        "paths": {f"{kind}|{path}": count for (kind, path), count in sorted(paths.items())},
        **profile_summary(profiler),
    }


def _count_paths(batch: EventBatch, result: BatchOutcome, paths: Counter[tuple[str, str]]) -> None:
    for row, compiled in enumerate(result.compiled.tolist()):
        kind = ROW_KINDS.get(batch.kind[row], "other")
        if kind == "position" and batch.value[row] == 0.0:
            kind = "position (close)"
        paths[kind, "compiled" if compiled else "per-event"] += 1


def breakdown_section(breakdown: dict[str, Any]) -> list[str]:
    """The "Where the replay's time goes" part of the (b) section."""
    kinds = breakdown["kinds"]
    total = sum(row["decode"] + row["apply"] + row["encode"] for row in kinds.values())
    timed = sum(int(row["lines"]) for row in kinds.values())
    lines = [
        "### Where the replay's time goes",
        "",
        f"The replay applies lines in batches of {BATCH_LINES:,} (`Engine.apply_batch`): the "
        "compiled kernel takes the runs of rows it can decide alone, and every other row goes "
        "through the per-event path (`Engine.apply`). First that per-event path: a second "
        f"replay of the first {timed:,} lines, one line at a time with a clock around each "
        f"step ({total:.0f} s; after them {breakdown['open_positions']:,} open positions in "
        f"{breakdown['tracked_accounts']:,} margin accounts). Per line, by kind of line:",
        "",
        "| lines | count | decode + validate | apply | records + JSON | total | share of time |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, row in kinds.items():
        spent = row["decode"] + row["apply"] + row["encode"]
        count = max(row["lines"], 1.0)
        lines.append(
            f"| {kind} | {int(row['lines']):,} | {row['decode'] / count * 1e6:.1f} us | "
            f"{row['apply'] / count * 1e6:.1f} us | {row['encode'] / count * 1e6:.1f} us | "
            f"{spent / count * 1e6:.1f} us | {spent / total:.0%} |"
        )
    marks = kinds.get("mark")
    if marks:
        lines += [
            "",
            f"A mark revalued {breakdown['positions_revalued'] / marks['lines']:,.0f} positions "
            f"on average and caused {marks['records'] / marks['lines']:.2f} level changes. "
            f"Records are built inside apply; the records + JSON column is `as_record` and "
            "`encode_record`.",
        ]
    profile = breakdown.get("profile")
    if profile:
        lines += ["", *_bulk_section(profile)]
    lines.append("")
    return lines


def _bulk_section(profile: dict[str, Any]) -> list[str]:
    paths: dict[str, int] = profile["paths"]
    kinds = sorted({key.split("|")[0] for key in paths}, key=lambda kind: -_rows(paths, kind))
    total = max(sum(paths.values()), 1)
    per_event = sum(count for key, count in paths.items() if key.endswith("|per-event"))
    return [
        f"Then the next {profile['lines']:,} lines as the replay runs them, in bulk. Rows by "
        f"path: {per_event / total:.0%} of them go through the per-event path.",
        "",
        "| rows | compiled kernel | per-event path |",
        "|---|---|---|",
        *(
            f"| {kind} | {paths.get(f'{kind}|compiled', 0):,} | "
            f"{paths.get(f'{kind}|per-event', 0):,} |"
            for kind in kinds
        ),
        "",
        "The same lines under cProfile (cProfile inflates the cost of Python calls against "
        "compiled code's: read the shares as indicative). Times per 1,000 lines; shares of the "
        "profiled time.",
        "",
        *profile_tables(profile, "1k lines", max(profile["lines"] / 1000, 1e-3)),
    ]


def _rows(paths: dict[str, int], kind: str) -> int:
    return paths.get(f"{kind}|compiled", 0) + paths.get(f"{kind}|per-event", 0)
