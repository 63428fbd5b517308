"""Retention benchmark: engine memory under account churn (SPEC §13; docs/ENGINE.md).

- churn: a fixed population of accounts opens and closes a position every hour of event time,
  each time in a symbol defined a few minutes before (a new one every 10 minutes), with a
  balance event before each open, over 48 h against a 1 h horizon; VmRSS at the end versus
  after the first 10% of the stream (target: within 10%).
- one-shot: N accounts each open and close one position; after the horizon has passed, the
  bytes of VmRSS left per closed account (over an engine that never saw them).

    python -m tests.bench.retention_bench [--quick] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from risk import Engine, parse_event
from risk.engine.warmup import warm_up
from risk.events import Event, Rejection
from risk.retention import HOUR_MS, Retention
from tests.bench.books import footprint
from tests.bench.sections import bench_parser, publish

START, END = "<!-- retention:start -->", "<!-- retention:end -->"
MINUTE_MS = 60_000
T0 = 1_700_000_000_000


def resident_bytes() -> int:
    """VmRSS of this process (bytes), from /proc/self/statm (pages)."""
    import os

    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def symbol_of(ts: int) -> str:
    return f"S{(ts - T0) // (10 * MINUTE_MS)}USDT"


def churn_events(accounts: int, hours: int) -> Iterator[Event | Rejection]:
    """In each minute, accounts/60 of them balance, open in the newest symbol, and close it
    20 minutes later; a new symbol every 10 minutes."""
    per_minute = max(1, accounts // 60)
    closing: list[list[dict[str, Any]]] = [[] for _ in range(20)]
    for minute in range(hours * 60):
        ts = T0 + minute * MINUTE_MS
        if minute % 10 == 0:
            yield parse_event({"type": "instrument", "symbol": symbol_of(ts), "kind": "linear",
                               "settle": "USDT"})  # fmt: skip
        for close in closing[minute % 20]:
            yield parse_event(close)
        closing[minute % 20] = []
        first = (minute % 60) * per_minute
        for number in range(first, min(first + per_minute, accounts)):
            name, symbol = f"acct{number}", symbol_of(ts)
            yield parse_event({"type": "balance", "account": name, "asset": "USDT",
                               "wallet": 10_000.0, "ts": ts})  # fmt: skip
            opened = {"type": "position", "account": name, "symbol": symbol, "size": 1.0,
                      "entry_price": 100.0, "ts": ts + 1}  # fmt: skip
            yield parse_event(opened)
            closing[minute % 20].append({**opened, "size": 0.0, "ts": ts + 20 * MINUTE_MS})


def churn(accounts: int, hours: int) -> dict[str, Any]:
    warm_up()  # numba's runtime is the process's, not the state's (as in run_bench's (c))
    engine = Engine([], retention=Retention(HOUR_MS))
    events = list(churn_events(accounts, hours))
    gc.collect()
    base = resident_bytes()
    deciles: list[int] = []  # RSS growth after each tenth of the stream
    holders: list[dict[str, int]] = []  # footprint(engine) at the same moments
    for start in range(0, len(events), 10_000):
        engine.apply_events(events[start : start + 10_000])
        while len(deciles) < 9 and start + 10_000 >= len(events) * (len(deciles) + 1) // 10:
            gc.collect()
            deciles.append(resident_bytes() - base)
            holders.append(footprint(engine))
    gc.collect()
    deciles.append(resident_bytes() - base)
    holders.append(footprint(engine))
    early, late = deciles[0], deciles[-1]
    return {
        "accounts": accounts,
        "hours": hours,
        "events": len(events),
        "symbols": len(engine.instruments),
        "rss_after_10pct_bytes": early,
        "rss_end_bytes": late,
        "growth": late / early - 1.0,
        "rss_deciles_bytes": deciles,
        "holder_growth_bytes": {
            holder: holders[-1][holder] - size for holder, size in holders[0].items()
        },
        "holders_after_10pct_bytes": holders[0],
        "margin_slots": len(engine.margin),
        "names": len(engine.accounts_by_name),
    }


def wave(engine: Engine, accounts: int, start: int, prefix: str) -> None:
    """Each of `accounts` new accounts sets a wallet, opens and closes one position (safe: no
    transition, so no count to keep), within 1 h of `start`."""
    step = max(1, HOUR_MS // accounts)
    for number in range(accounts):
        ts = start + number * step
        engine.apply(parse_event({"type": "balance", "account": f"{prefix}{number}",
                                  "asset": "USDT", "wallet": 1000.0, "ts": ts}))  # fmt: skip
        opened = {"type": "position", "account": f"{prefix}{number}", "symbol": "XUSDT",
                  "size": 1.0, "entry_price": 100.0, "ts": ts}  # fmt: skip
        engine.apply(parse_event(opened))
        engine.apply(parse_event({**opened, "size": 0.0, "ts": ts + 1}))


def one_shot(accounts: int) -> dict[str, Any]:
    """A wave of one-position accounts, 2 h later a second wave of new ones.

    VmRSS does not fall when the first wave is forgotten (CPython keeps freed memory, numpy
    columns and dicts do not shrink), but the second wave reuses it: its growth per account is
    what a closed account leaves behind for good.
    """
    instrument = {"type": "instrument", "symbol": "XUSDT", "kind": "linear", "settle": "USDT"}
    engine = Engine([parse_event(instrument).instrument], retention=Retention(HOUR_MS))  # type: ignore[union-attr]
    gc.collect()
    base = resident_bytes()
    wave(engine, accounts, T0, "one")
    gc.collect()
    first = resident_bytes() - base
    wave(engine, accounts, T0 + 3 * HOUR_MS, "two")
    gc.collect()
    second = resident_bytes() - base - first
    return {
        "accounts": accounts,
        "rss_first_wave_bytes": first,
        "rss_second_wave_bytes": second,
        "peak_bytes_per_account": first / accounts,
        "bytes_per_closed_account": second / accounts,
        "names": len(engine.accounts_by_name),
        "margin_slots": len(engine.margin),
        "tombstones": sum(len(found) for found in engine.tombstones.values()),
        "carried_counts": len(engine.carried_counts),
    }


def report(churned: dict[str, Any], single: dict[str, Any], command: str) -> str:
    mib = 1 << 20
    verdict = "met" if abs(churned["growth"]) <= 0.10 else "NOT met"
    return "\n".join(
        [
            START,
            "## Retention (bounded engine state, SPEC §13)",
            "",
            f"`{command}`; horizon 1 h.",
            "",
            f"- churn: {churned['accounts']} accounts, {churned['hours']} h of event time, "
            f"{churned['events']} events, {churned['symbols']} symbols: RSS growth "
            f"{churned['rss_after_10pct_bytes'] / mib:.1f} MiB after 10% -> "
            f"{churned['rss_end_bytes'] / mib:.1f} MiB at the end "
            f"({churned['growth']:+.1%}; target within 10%: {verdict}). After each tenth of "
            "the stream (MiB): "
            + ", ".join(f"{size / mib:.1f}" for size in churned["rss_deciles_bytes"])
            + " (the compiled kernels are loaded before the first reading). "
            + _growth_by_holder(churned),
            f"- one-shot: {single['accounts']} accounts open and close one position: "
            f"{single['peak_bytes_per_account']:.0f} B of RSS per account for the first wave; a "
            f"second wave of as many new accounts 2 h later adds "
            f"{single['bytes_per_closed_account']:.0f} B per account (what a forgotten account "
            f"leaves for good; RSS itself does not fall, the memory is reused).",
            END,
            "",
        ]
    )


def _growth_by_holder(churned: dict[str, Any]) -> str:
    """Where the growth from the first tenth to the end is, by holder (`footprint`)."""
    growth: dict[str, int] = churned["holder_growth_bytes"]
    counted = sum(growth.values())
    total = churned["rss_end_bytes"] - churned["rss_after_10pct_bytes"]
    parts = ", ".join(
        f"`{holder}` {size / 1024:+,.0f} KiB"
        for holder, size in sorted(growth.items(), key=lambda item: -abs(item[1]))
        if size
    )
    return (
        f"Where the growth is (`tests.bench.books.footprint` after the first tenth and at the "
        f"end, `sys.getsizeof`): {parts or 'nothing'}; together {counted / 1024:+,.0f} KiB of "
        f"the {total / 1024:+,.0f} KiB of RSS. Tombstones hold about the same number of entries "
        "throughout; their keys (symbol index x 3 + side) become int objects of their own once "
        "the symbol index passes 85 (CPython shares only the ints up to 256), a cost of ever "
        "new symbols. The rest is outside the engine's containers: "
        "the allocator's pages (freed objects leave partly used arenas that RSS keeps) and "
        "per-symbol objects (instruments, blocks, their table rows), which grow with every "
        "symbol defined."
    )


def main(argv: list[str] | None = None) -> int:
    arguments = bench_parser(__doc__).parse_args(argv)
    accounts, hours, single = (600, 6, 20_000) if arguments.quick else (20_000, 48, 400_000)
    churned = churn(accounts, hours)
    print(json.dumps(churned), flush=True)
    once = one_shot(single)
    print(json.dumps(once), flush=True)
    command = "python -m tests.bench.retention_bench" + (" --quick" if arguments.quick else "")
    publish(report(churned, once, command), arguments.write, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
