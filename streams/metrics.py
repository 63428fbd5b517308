"""Prometheus exposition of a worker's counters (SPEC §11 names), collected at scrape time.

This first collector covers the input counters; the gauges of the book, the fund and the
evaluation histogram arrive with the observability work. No label carries an account id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry


class Counted(Protocol):
    """Counters a worker keeps: (event type, outcome) and rejection reasons."""

    @property
    def outcomes(self) -> Counter[tuple[str, str]]: ...
    @property
    def rejects(self) -> Counter[str]: ...


class WorkerCollector(Collector):
    def __init__(self, source: Counted) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "riskmon_events_total",
            "Input events taken by this worker's tasks, by type and outcome.",
            labels=["type", "outcome"],
        )
        for (event_type, outcome), count in sorted(self.source.outcomes.items()):
            events.add_metric([event_type, outcome], count)
        rejected = CounterMetricFamily(
            "riskmon_rejected_events_total",
            "Rejected input events, by reason (SPEC §9).",
            labels=["reason"],
        )
        for reason, count in sorted(self.source.rejects.items()):
            rejected.add_metric([reason], count)
        yield events
        yield rejected


def worker_registry(source: Counted) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(WorkerCollector(source))
    return registry
