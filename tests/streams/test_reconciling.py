"""The reconciliation sweep as a process runs it (`streams.kafka.reconciling.Sweeper`) and its
two metrics: slices paced by the clock, every repair logged and counted, the age bounded."""

from __future__ import annotations

import logging

import pytest
from prometheus_client.registry import CollectorRegistry

from streams.kafka.reconciling import INTERVAL_SECONDS, Sweeper
from streams.observability.metrics import register_metrics
from tests.risk.test_reconcile import held_accounts, replayed
from tests.streams.test_web import FakeWorker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_sweeper_paces_itself_counts_and_logs_repairs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine, _, _ = replayed(3)
    clock = Clock()
    sweeper = Sweeper(clock)
    account = held_accounts(engine)[0]
    engine.margin.equity[account] += 1.0
    with caplog.at_level(logging.WARNING, logger="riskmon.reconcile"):
        sweeper.run([engine])  # the book is small: one slice is a whole pass
        clock.now += INTERVAL_SECONDS / 2
        engine.margin.equity[account] += 1.0
        sweeper.run([engine])  # too soon: nothing runs
        assert sweeper.drift_total == 1
        clock.now += INTERVAL_SECONDS
        sweeper.run([engine])
    assert sweeper.drift_total == 2
    name = engine.margin_account_id(account)
    lines = [r.getMessage() for r in caplog.records if r.name == "riskmon.reconcile"]
    assert len(lines) == 2
    assert all(line.startswith(f"reconciliation repaired {name}: equity off by ") for line in lines)
    clock.now += 5.0
    assert sweeper.age() == pytest.approx(5.0 + INTERVAL_SECONDS * 1.5, abs=1e-9)


def test_both_metrics_are_exported() -> None:
    worker = FakeWorker({})
    worker.reconciliation_drift = 3
    registry = CollectorRegistry()
    register_metrics(registry, worker)
    assert registry.get_sample_value("riskmon_reconciliation_drift_total") == 3.0
    assert registry.get_sample_value("riskmon_reconciliation_age_seconds") == 0.0
