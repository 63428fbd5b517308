"""Deterministic offline replay (SPEC §10): a JSONL file through the engine the workers run.

Lines are decoded straight into columns (`streams.columns`) and applied in file order, in
batches (`Engine.apply_batch`); every transition is emitted as one compact JSON line. Replay
time is event time, never the wall clock, so the same input gives the same bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from risk.engine import ACCEPTED, REJECTED, STALE, Engine
from risk.fund.projection import aggregate_projection, asset_records
from risk.fund.report import engine_share, fund_sections
from streams.codec import encode_record
from streams.columns import decode_lines

BATCH_LINES = 4096


@dataclass
class ReplayReport:
    """Counts by outcome, every rejected line with its reason, and the transitions written."""

    events: Counter[str] = field(default_factory=Counter)
    rejects: list[tuple[int, str]] = field(default_factory=list)
    transitions: int = 0


def replay_lines(
    lines: Iterable[bytes],
    engine: Engine,
    emit: Callable[[str], object],
    progress: Callable[[int], object] | None = None,
) -> ReplayReport:
    """Apply every non-blank line; `emit` gets each transition, `progress` the lines read."""
    report = ReplayReport()
    read = 0
    for chunk in numbered_batches(lines, BATCH_LINES):
        read += len(chunk)
        numbered = [(number, line) for number, line in chunk if line.strip()]
        result = engine.apply_batch(decode_lines(line for _, line in numbered))
        report.events.update(result.counts())
        for row, reason in sorted(result.reasons.items()):
            report.rejects.append((numbered[row][0], reason))
        for _, transitions in result.transitions:
            for transition in transitions:
                emit(encode_record(transition.as_record()))
            report.transitions += len(transitions)
        if progress is not None:
            progress(read)
    return report


def summary_document(
    engine: Engine, report: ReplayReport, fund: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The `--summary` document of SPEC §10, with `fund` (the fund projection at the end of
    the file, `risk.fund.report.fund_sections`) computed here when not given."""
    return {
        "events": {status: report.events[status] for status in (ACCEPTED, REJECTED, STALE)},
        "rejects": [{"line": line, "reason": reason} for line, reason in report.rejects],
        "levels": engine.level_counts(),
        "accounts": [
            engine.account_view(account).as_record() for account in engine.tracked_accounts()
        ],
        **(fund_sections(engine) if fund is None else fund),
    }


def numbered_batches(lines: Iterable[bytes], size: int) -> Iterator[list[tuple[int, bytes]]]:
    """(line number from 1, line) in lists of `size`."""
    iterator = iter(enumerate(lines, start=1))
    while chunk := list(islice(iterator, size)):
        yield chunk


def watch_fund(engine: Engine, emit: Callable[[str], object]) -> None:
    """Emit the `riskmon.fund` records (one per asset) at every projection epoch of `engine`
    (docs/FUND.md, "Live projections"): what the Kafka workers publish for the same events."""

    def project(at: int) -> None:
        share = engine_share(engine, at)
        market = share.market
        projection = aggregate_projection(market, [share])  # as the workers' aggregator
        settle = dict(zip(market.symbols, market.settle, strict=True))
        for record in asset_records(projection, settle).values():
            emit(encode_record(record))

    engine.watch_epochs(project)
