"""The Kafka benchmarks' section of BENCHMARKS.md (tests/bench/kafka_bench.py's results)."""

from __future__ import annotations

from typing import Any, Final

START: Final = "<!-- KAFKA:START -->"
END: Final = "<!-- KAFKA:END -->"
RATE_TARGET: Final = 100_000  # events/s of one worker on 2 partitions (the (1))


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def section(results: dict[str, Any], when: str, partitions: int, command: str) -> str:
    """The report between the KAFKA markers, every figure next to its floor or baseline."""
    one, default, two = results["throughput"], results["default"], results["two_workers"]
    fast, slow, rec = results["latency"], results["latency_5k"], results["recovery"]
    rate, decoding = one["worker_rate"], one["decoding_rate"]
    positions = rec["positions"]
    rows = [
        START,
        "## Kafka worker (issue: Kafka workers)",
        "",
        f"Measured {when} on this machine: one local broker (`deploy/kafka`, Kafka 3.9.1) on "
        f"the same 2 cores. Reproduce: `make bench` (this part: `{command}`, about fifteen "
        "minutes). The input: "
        f"{results['lines']:,} lines of `tests/bench/generate.py` over "
        f"{results['accounts']:,} accounts (marks {results['kinds'].get('mark', 0):,}, "
        f"positions {results['kinds'].get('position', 0):,}, balances "
        f"{results['kinds'].get('balance', 0):,}), published before the workers start.",
        "",
        "| figure | result | floor or baseline (same run) | target | verdict |",
        "|---|---|---|---|---|",
        f"| (1) one worker, 2 partitions | {rate:,.0f} events/s, "
        f"{one['worker_cpu_us']:.0f} µs CPU an event | decoding consumer {decoding:,.0f}/s "
        f"({rate / decoding:.1%}); bare consumer {one['bare_rate']:,.0f}/s "
        f"({rate / one['bare_rate']:.1%}); transactional copy {one['copy_rate']:,.0f}/s "
        f"({rate / one['copy_rate']:.1%}) | {RATE_TARGET:,} events/s and >= 50% of the "
        f"decoding consumer | {verdict(rate >= RATE_TARGET and rate >= 0.5 * decoding)} |",
        f"| (1') one worker, {partitions} partitions | {default['worker_rate']:,.0f} events/s "
        f"({default['worker_rate'] / rate:.0%} of (1)) | (1) | >= 80% of (1) | "
        f"{verdict(default['worker_rate'] >= 0.8 * rate)} |",
        f"| (2) mark -> transition at {fast['rate']:,.0f} events/s | p50 {ms(fast['p50'])}, "
        f"p99 {ms(fast['p99'])}, max {ms(fast['max'])}; lag after {fast['lag_after']:,} | at "
        f"{slow['rate']:,.0f} events/s: p50 {ms(slow['p50'])}, p99 {ms(slow['p99'])} | "
        f"p50 <= 60 ms, p99 <= 150 ms at 20,000/s | {verdict(_latency_met(fast))} |",
        f"| (3) recovery, {positions:,} positions | {rec['seconds']:.1f} s from process start "
        f"to every partition restored, from their snapshots | with {rec['tail']:,} changelog "
        f"records after the snapshots: {rec['tail_seconds']:.1f} s; without snapshots, the "
        f"whole changelog ({rec['records']:,} records): {rec['full_seconds']:.1f} s | <= 5 s | "
        f"{verdict(rec['seconds'] <= 5)} |",
        f"| (4) worker RSS at {positions:,} positions | {rec['rss'] / 2**20:,.0f} MiB, "
        f"{rec['rss'] / positions:,.0f} bytes a position | | reported | |",
        f"| (5) two workers, 4 partitions | {two['worker_rate']:,.0f} events/s together; CPU "
        + ", ".join(f"{cpu:.1f} s" for cpu in two["cpu_seconds"])
        + f" a process over {two['worker_seconds']:.1f} s | (1) | reported | |",
        "",
        "(1) is timed from the worker's partition assignment until the group's committed offsets "
        "reach the end of the account topics. The floors read the same topics with librdkafka "
        "in the worker's fetch size (`tests/bench/kafka_tools.py`): bare, decoding each fetch "
        "into columns (`streams.columns.decode_lines`), and copying each fetch to one topic in "
        "one transaction with its offsets. CPU counts every thread of the worker process.",
        "",
        "(2) latency = the time the transition was fetched (read committed) minus the time its "
        "mark was handed to the producer: the merge grace (50 ms), the round, the commit and "
        f"the consumer's fetch. {fast['events']:,} lines paced in 10 ms slices; "
        f"{fast['transitions']:,} and {slow['transitions']:,} transitions measured.",
        "",
        "(3) The changelog is written directly (two positions and a wallet an account). A first "
        "worker restores from the whole changelog (reading it, decoding every entry into "
        "columns, loading them in bulk), writes each partition's snapshot and stops; a second "
        "one restores from the snapshots alone; a third from the snapshots and a tail written "
        "after them (each account's three entries again for as many accounts as make half a "
        "snapshot interval a partition, on average). (4) is the second process's VmRSS right "
        "after its restore.",
        END,
    ]
    return "\n".join(rows) + "\n"


def _latency_met(result: dict[str, Any]) -> bool:
    p50, p99 = result["p50"], result["p99"]
    return p50 is not None and p99 is not None and p50 <= 60 and p99 <= 150
