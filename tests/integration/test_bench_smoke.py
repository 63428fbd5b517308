"""The Kafka benchmark harness runs end to end at tiny sizes (its own broker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench import kafka_bench
from tests.bench.kafka_report import END, START
from tests.bench.sections import write_section

pytestmark = pytest.mark.integration


def test_kafka_bench_quick_run_writes_its_section(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nengine figures\n")
    assert kafka_bench.main(["--quick", "--partitions", "2", "--write", str(report)]) == 0
    text = report.read_text()
    assert text.startswith("# Benchmarks\n\nengine figures\n")
    assert text.count(START) == 1
    for row in (
        "| (1) one worker, 2 partitions | ",
        "| (1') one worker, 2 partitions | ",
        "| (2) mark -> transition at ",
        "| (3) recovery, 10,000 positions | ",
        "| (4) worker RSS at 10,000 positions | ",
        "| (5) two workers, 4 partitions | ",
    ):
        assert text.count(row) == 1, row
    replaced = START + "\nreplaced\n" + END + "\n"
    write_section(report, replaced, START, END)
    assert report.read_text() == "# Benchmarks\n\nengine figures\n\n" + START + (
        "\nreplaced\n" + END + "\n"
    )
