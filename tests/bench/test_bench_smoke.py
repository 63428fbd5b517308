"""The benchmark harness at tiny sizes: it runs, and its counts match what it built.

Nothing here asserts on timing; `make bench` measures.
"""

from __future__ import annotations

import math

from tests.bench import fund_bench
from tests.bench.run_bench import (
    machine,
    memory_benchmark,
    replay_benchmark,
    report,
    tick_benchmark,
)


def test_harness_at_tiny_sizes_reports_what_it_built() -> None:
    tick = tick_benchmark(accounts=150, ticks=3, scalar_ticks=1, profile_ticks=1, profile=True)
    assert tick["positions"] == tick["scalar_positions"] == 300
    assert tick["tracked_accounts"] == 150
    assert sum(tick["levels_before"].values()) == 150
    for walk in tick["walks"].values():
        assert 0 < walk["median_ms"] <= walk["p99_ms"] <= walk["max_ms"]
    assert tick["scalar_median_ms"] > 0
    assert tick["positions_per_second"] > 0
    assert tick["profile"]["seconds"] > 0
    assert tick["profile"]["inclusive"]

    replay = replay_benchmark(
        events=3_000,
        accounts=300,
        baseline_lines=400,
        breakdown_lines=2_500,
        profile_lines=500,
        profile=True,
    )
    counts, breakdown = replay["counts"], replay["breakdown"]
    assert sum(counts.values()) == replay["lines"] == 3_000
    assert counts["mark"] > 0
    assert counts["position"] > 0
    assert counts["balance"] > 0
    # The replay accepts, rejects and counts stale exactly the lines generated for that.
    assert breakdown["outcomes"] == {
        "accepted": counts["mark"] + counts["position"] + counts["balance"],
        "rejected": counts["bad"],
        "stale": counts["stale"],
    }
    assert breakdown["profile"]["lines"] == 500
    reference = replay["reference"]
    assert replay["head_lines"] == reference["lines"] == 400
    assert sum(reference["events"].values()) == 400
    assert reference["transitions"] == replay["head_transitions"]
    assert replay["events_per_second"] > 0
    assert reference["events_per_second"] > 0

    memory = memory_benchmark(accounts=150)
    assert memory["positions"] == memory["naive_positions"] == 300
    assert math.isfinite(memory["engine_bytes_per_position"])
    assert memory["column_bytes_per_position"] > 0

    text = report(tick, replay, memory, info=machine(), seconds=1.0, command="test")
    for heading in ("## (a)", "## (b)", "## (c)", "Where the time of a tick goes"):
        assert heading in text


def test_fund_benchmark_at_tiny_sizes_agrees_with_its_brute_force() -> None:
    # `run` asserts every fast answer against its brute-force twin; here it must get through.
    result = fund_bench.run(accounts=3_000, symbols=20, paths=300, sample_paths=4)
    assert result["accounts"] == 3_000
    assert result["positions"] > 3_000
    assert result["multi_symbol_accounts"] > 0
    assert result["stress"]["bankrupt_at_20_down"] > 0
    assert result["depletion"]["usdt"][0] is not None
    text = fund_bench.report(result)
    assert text.startswith(fund_bench.START)
    assert text.rstrip().endswith(fund_bench.END)
