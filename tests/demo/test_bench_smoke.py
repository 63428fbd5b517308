"""The demo benchmark runs at a tiny size and writes only its own section."""

from __future__ import annotations

from pathlib import Path

from tests.bench import demo_bench


def test_demo_bench_quick_run_writes_its_section(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nengine figures\n")
    assert demo_bench.main(["--quick", "--write", str(report)]) == 0
    text = report.read_text()
    assert text.startswith("# Benchmarks\n\nengine figures\n")
    assert text.count(demo_bench.START) == text.count(demo_bench.END) == 1
    assert "| 300 (" in text
    assert "p99 / tick" in text
