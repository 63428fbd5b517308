"""Live fund projections of two workers on a real broker equal `riskmon replay --fund-out`.

The accounts are split over two workers; the owner of partition 0 aggregates both shares at
every epoch it reaches and publishes one record per asset on the projections topic. Every
record published is the replay's record of the same epoch and asset (to rounding), the last
epoch of the file is published, and `/fund` answers on both workers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streams.cli import main
from tests.integration.kafka import Broker, WorkerProcess, read_topic, wait_for
from tests.integration.scenario import Scenario
from tests.integration.test_workers import (
    PARTITIONS,
    finish,
    stack_for,
    start_publishing,
    wait_for_output,
)
from tests.streams.test_fund_partitions import assert_close

pytestmark = pytest.mark.integration
FUND_TABLE = "\n[fund]\npaths = 300\nprojection_interval_ms = 60000\n"


def replayed_records(scenario: Scenario, directory: Path) -> dict[tuple[int, str], Any]:
    fund_out = directory / "fund-records.jsonl"
    argv = ["replay", str(scenario.events), "--config", str(scenario.config)]
    assert main([*argv, "--out", str(directory / "out.jsonl"), "--fund-out", str(fund_out)]) == 0
    records = [json.loads(line) for line in fund_out.read_text().splitlines()]
    return {(record["ts"], record["asset"]): record for record in records}


def test_two_workers_publish_the_replay_projections(broker: Broker, tmp_path: Path) -> None:
    scenario = Scenario.generate(tmp_path, 53, 2000, PARTITIONS, FUND_TABLE)
    expected = replayed_records(scenario, tmp_path)
    last = max(ts for ts, _ in expected)
    stack = stack_for(broker, "fund", scenario)
    left, right = (WorkerProcess(stack, name, tmp_path).start() for name in ("w1", "w2"))

    def split() -> bool:
        owned = [set((worker.health() or {}).get("partitions", [])) for worker in (left, right)]
        return all(owned) and owned[0] | owned[1] == set(range(PARTITIONS))

    def published() -> list[dict[str, Any]]:
        return [json.loads(message.value or b"") for message in read_topic(stack, "projections")]

    def epochs() -> int:
        return len({record["ts"] for record in published()})

    try:
        wait_for(split, 120, "both workers to own partitions", poll=0.2)
        # In thirds, each published once the last has given an epoch: through a backlog the
        # aggregator skips epochs by design (streams/kafka/projections.py), so a stream
        # published at once may give only its first and last, however fast the workers are.
        lines = scenario.events.read_text().splitlines(keepends=True)
        for third in range(3):
            part = tmp_path / f"events-{third}.jsonl"
            part.write_text("".join(lines[third * len(lines) // 3 : (third + 1) * len(lines) // 3]))
            before = epochs()
            finish(start_publishing(stack, scenario, interval_ms=1, events=part))
            wait_for(lambda: epochs() > before, 120, f"an epoch of part {third + 1} of 3")  # noqa: B023
        wait_for_output(stack, scenario, [left, right])
        wait_for(lambda: any(record["ts"] == last for record in published()), 120, "the last epoch")
        records = published()
        assert len({record["ts"] for record in records}) >= 3
        for record in records:
            twin = expected[(record["ts"], record["asset"])]
            assert_close(record, twin, 1e9, f"{record['asset']} at {record['ts']}")
        answers = [worker.get("/fund") for worker in (left, right)]
        assert [status for status, _ in answers] == [200, 200]
        assert answers[0][1] == answers[1][1]
        assert answers[0][1]["ts"] == last
    finally:
        stopped = [worker.stop() for worker in (left, right)]
    assert stopped == [0, 0], left.log()[-3000:] + right.log()[-3000:]
