"""The benchmark harness runs at tiny sizes and reports consistent counts (no timing asserted)."""

from __future__ import annotations

from tests.bench.books import book_specs, build_engine, naive_positions
from tests.bench.run_bench import replay_benchmark, report, tick_benchmark


def test_tick_benchmark_counts_the_book_it_built() -> None:
    result = tick_benchmark(accounts=300, ticks=3, scalar_ticks=1)
    specs = book_specs(300)
    expected_positions = len(naive_positions(specs))
    assert result["positions"] == expected_positions
    assert len(build_engine(specs).tracked_accounts()) == 300
    assert set(result["walks"]) == {"realistic", "stress"}
    assert result["median_ms"] > 0
    assert result["scalar_median_ms"] > 0


def test_replay_benchmark_accounts_for_every_line() -> None:
    result = replay_benchmark(events=3_000, accounts=200, mark_interval_ms=20, baseline_lines=500)
    counts, outcomes = result["counts"], result["outcomes"]
    assert sum(outcomes.values()) == result["lines"] == sum(counts.values())
    assert outcomes["rejected"] == counts["bad"]
    assert outcomes["stale"] == counts["stale"]
    assert counts["mark"] > 0
    text = report(
        tick_benchmark(accounts=100, ticks=2, scalar_ticks=1),
        [result, result],
        {
            "positions": 10,
            "engine_bytes_per_position": 100.0,
            "naive_bytes_per_position": 900.0,
            "ratio": 9.0,
        },
    )
    assert "## (b) Replay throughput" in text
