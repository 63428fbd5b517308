"""The benchmark harness at tiny sizes: it runs, and its counts match what it built.

Nothing here asserts on timing; `make bench` measures.
"""

from __future__ import annotations

import math

from streams.kafka.reconciling import MIN_BUDGET
from tests.bench import bulk_bench, fund_bench, live_whatif_bench, reconcile_bench, tick_bench
from tests.bench.run_bench import (
    machine,
    memory_benchmark,
    replay_benchmark,
    report,
)


def test_tick_harness_at_tiny_sizes_reports_what_it_built() -> None:
    tick = tick_bench.run(accounts=150, ticks=3, jit=False)
    assert tick["positions"] == 300
    for walk in tick["walks"].values():
        assert 0 < walk["median_ms"] <= walk["p99_ms"] <= walk["max_ms"]
    assert tick["walks"]["move"]["ticks"] == tick["walks"]["calm"]["ticks"] == 3
    assert tick["depth"]["ticks"] == 3
    assert 0 <= tick["depth"]["carrying"] <= 3 * tick["depth"]["records_max"]
    assert tick["floors"]["numpy_pass_ms"] > 0
    assert tick["floors"]["compiled_full_ms"] > 0
    assert tick["scalar_ms"] > 0
    assert tick["profile"]["ticks"] == 5
    assert tick["profile"]["inclusive"]
    text = tick_bench.report(tick)
    assert text.startswith(tick_bench.START)
    assert text.rstrip().endswith(tick_bench.END)
    for figure in ("| (a) calm", "| (a') +-0.5%", "| (a'') one full recompute"):
        assert figure in text


def test_harness_at_tiny_sizes_reports_what_it_built() -> None:

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
    assert sum(breakdown["profile"]["paths"].values()) == 500
    reference = replay["reference"]
    assert replay["head_lines"] == reference["lines"] == 400
    assert sum(reference["events"].values()) == 400
    assert reference["transitions"] == replay["head_transitions"]
    assert replay["events_per_second"] > 0
    assert reference["events_per_second"] > 0
    whatif = replay["whatif"]
    assert whatif["seconds"] > 0
    assert whatif["transitions"]["base"] == replay["transitions"]

    memory = memory_benchmark(accounts=150)
    assert memory["positions"] == memory["naive_positions"] == 300
    assert math.isfinite(memory["engine_bytes_per_position"])
    assert memory["column_bytes_per_position"] > 0

    text = report(replay, memory, info=machine(), seconds=1.0, command="test")
    for heading in ("## (b)", "## (c)"):
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


def test_bulk_harness_at_tiny_sizes_reports_what_it_built() -> None:
    sizes = bulk_bench.Sizes(accounts=200, events=300, stream=1_500, stream_accounts=100)
    events = bulk_bench.events_benchmark(sizes)
    for kind in ("position", "balance"):
        row = events[kind]
        assert 0 < row["kernel"] <= row["apply"]
        assert row["per_event"] > 0
        assert row["json"] > 0
    stream = bulk_bench.stream_benchmark(sizes)
    assert stream["lines"] == 1_500
    assert stream["counts"]["mark"] > 300
    text = bulk_bench.report(events, stream, "test")
    assert text.startswith(bulk_bench.START)
    assert text.rstrip().endswith(bulk_bench.END)
    assert "| position |" in text
    assert "| balance |" in text


def test_live_whatif_harness_at_tiny_sizes_reports_what_it_built() -> None:
    result = live_whatif_bench.run(accounts=400)
    assert result["positions"] == 800
    levels = result["levels"]
    assert sum(levels["base"].values()) == sum(levels["proposed"].values()) == 400
    moved_in = sum(
        max(0, levels["proposed"][name] - levels["base"][name]) for name in levels["base"]
    )
    assert result["changed_accounts"] >= moved_in > 0  # raised rates move some accounts up
    assert len(result["request_seconds"]) == live_whatif_bench.REPEAT
    text = live_whatif_bench.report(result, "command")
    assert text.startswith(live_whatif_bench.START)
    assert text.rstrip().endswith(live_whatif_bench.END)


def test_reconcile_harness_at_tiny_sizes_reports_what_it_built() -> None:
    result = reconcile_bench.run(accounts=300)
    assert result["positions"] == 600
    assert result["slice_budget"] == MIN_BUDGET
    assert result["floor_seconds"] > 0
    assert result["slice_seconds"] > 0
    assert result["pass_seconds"] > 0
    text = reconcile_bench.report(result, "command")
    assert text.startswith(reconcile_bench.START)
    assert "| the whole book covered every | 30 s | <= 60 s: met |" in text
