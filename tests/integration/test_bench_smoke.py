"""The Kafka benchmark harness runs end to end at tiny sizes (its own broker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench import kafka_bench
from tests.bench.sections import write_section

pytestmark = pytest.mark.integration


def test_kafka_bench_quick_run_writes_its_section(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nengine figures\n")
    assert kafka_bench.main(["--quick", "--partitions", "2", "--write", str(report)]) == 0
    text = report.read_text()
    assert text.startswith("# Benchmarks\n\nengine figures\n")
    assert text.count(kafka_bench.START) == 1
    assert "| (1) worker input rate" in text
    assert "| (3) recovery of a worker owning 10,000 positions |" in text
    replaced = kafka_bench.START + "\nreplaced\n" + kafka_bench.END + "\n"
    write_section(report, replaced, kafka_bench.START, kafka_bench.END)
    assert report.read_text() == "# Benchmarks\n\nengine figures\n\n" + kafka_bench.START + (
        "\nreplaced\n" + kafka_bench.END + "\n"
    )
