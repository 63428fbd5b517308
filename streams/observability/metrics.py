"""Prometheus metrics (SPEC §11), built by one factory that takes a registry.

`register_metrics(registry, source)` registers a collector that reads the numpy books, the
counters and the latest fund projection at scrape time, and the evaluation histogram, which
the worker feeds as it publishes. No label carries an account id. Names and units follow
Prometheus conventions: seconds, `_total` for counters, ratios as fractions.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import product
from typing import Any, Final, Protocol

import numpy as np
from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR, Histogram
from prometheus_client import Counter as CounterMetric
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from risk.book import float_view, int8_view, int32_view
from risk.engine import Engine
from risk.engine.bulk import STATUSES
from risk.events import EVENT_TYPES, REASONS
from risk.levels import LEVEL_NAMES, Level

EVALUATION_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
AT_RISK: Final = tuple(range(Level.WATCH, len(LEVEL_NAMES)))  # watch and above
KNOWN_OUTCOMES: Final = frozenset(product(EVENT_TYPES, STATUSES))
KNOWN_TRANSITIONS: Final = frozenset(
    (old, new) for old, new in product(LEVEL_NAMES, LEVEL_NAMES) if old != new
)


class Source(Protocol):
    """What the metrics read: engines, counters and the latest fund projection."""

    def engines(self) -> Iterable[Engine]: ...
    @property
    def outcomes(self) -> Counter[tuple[str, str]]: ...
    @property
    def rejects(self) -> Counter[str]: ...
    @property
    def level_transitions(self) -> Counter[tuple[str, str]]: ...
    def fund_projection(self) -> dict[str, Any] | None: ...
    def lag(self) -> dict[str, int]: ...
    @property
    def rounds(self) -> int: ...
    @property
    def restores(self) -> int: ...
    @property
    def reconciliation_drift(self) -> int: ...
    def reconciliation_age(self) -> float: ...


@dataclass(frozen=True)
class Metrics:
    """The metrics a process feeds itself (the rest are read at scrape time)."""

    evaluation: Histogram
    unauthorized: CounterMetric  # HTTP requests refused for a missing or wrong API token (SPEC §13)


def register_metrics(
    registry: CollectorRegistry, source: Source, clock: Callable[[], float] = time.time
) -> Metrics:
    registry.register(BookCollector(source, clock))
    evaluation = Histogram(
        "riskmon_evaluation_seconds",
        "Time from taking an event to its transitions being published, by trigger.",
        ["trigger"],
        registry=registry,
        buckets=EVALUATION_BUCKETS,
    )
    unauthorized = CounterMetric(
        "riskmon_http_unauthorized",
        "HTTP requests refused for a missing or wrong API token (SPEC §13).",
        registry=registry,
    )
    return Metrics(evaluation, unauthorized)


def register_runtime(registry: CollectorRegistry) -> None:
    """The process's own health: `process_*` (CPU seconds, resident memory in bytes, open
    fds), `python_gc_*` and `python_info`. riskmon runs no faust app, so there are no faust
    sensor metrics (docs/STREAMS.md, "Metrics"); these and the pipeline families stand in."""
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)


class BookCollector(Collector):
    """SPEC §11's counters and gauges, computed when Prometheus scrapes."""

    def __init__(self, source: Source, clock: Callable[[], float]) -> None:
        self.source = source
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        yield from self._counters()
        yield from self._pipeline()
        engines = list(self.source.engines())
        yield _levels(engines)
        yield from _positions(engines)
        yield _mark_ages(engines, self.clock())
        projection = self.source.fund_projection()
        if projection is not None:
            yield from fund_metrics(projection)

    def _counters(self) -> Iterator[Metric]:
        """Every label value known in advance starts at 0, so that `rate()` sees 0, not
        nothing, before the first of its kind (client_python's advice)."""
        source = self.source
        yield _counter(
            "riskmon_events_total",
            "Input events taken, by type and outcome (accepted, rejected, stale).",
            ["type", "outcome"],
            dict.fromkeys(KNOWN_OUTCOMES, 0) | dict(source.outcomes),
        )
        reasons = {(reason,): 0 for reason in REASONS}
        reasons |= {(reason,): count for reason, count in source.rejects.items()}
        yield _counter(
            "riskmon_rejected_events_total",
            "Rejected input events, by reason (SPEC §9).",
            ["reason"],
            reasons,
        )
        transitions = dict.fromkeys(KNOWN_TRANSITIONS, 0) | dict(source.level_transitions)
        yield _counter(
            "riskmon_level_transitions_total",
            "Published risk level transitions (SPEC §7), by from and to level.",
            ["from", "to"],
            transitions,
        )

    def _pipeline(self) -> Iterator[Metric]:
        source = self.source
        lag = GaugeMetricFamily(
            "riskmon_consumer_lag",
            "Input records committed to Kafka that this worker's tasks have not applied yet.",
            labels=["topic"],
        )
        for topic, records in sorted(source.lag().items()):
            lag.add_metric([topic], records)
        yield lag
        yield CounterMetricFamily(
            "riskmon_worker_rounds", "Transactions this worker committed.", value=source.rounds
        )
        yield CounterMetricFamily(
            "riskmon_partition_restores",
            "Partitions this worker rebuilt from the changelog (assignments and resets).",
            value=source.restores,
        )
        yield CounterMetricFamily(
            "riskmon_reconciliation_drift",
            "Margin accounts the reconciliation sweep found drifted and repaired.",
            value=source.reconciliation_drift,
        )
        yield GaugeMetricFamily(
            "riskmon_reconciliation_age_seconds",
            "Age of the oldest margin account check of the reconciliation sweep.",
            value=source.reconciliation_age(),
        )


def _counter(name: str, documentation: str, labels: list[str], counts: Mapping[Any, int]) -> Metric:
    """A counter family from a mapping of label-value tuples to counts."""
    family = CounterMetricFamily(name, documentation, labels=labels)
    for values, count in sorted(counts.items()):
        family.add_metric(list(values), count)
    return family


def _levels(engines: list[Engine]) -> Metric:
    family = GaugeMetricFamily(
        "riskmon_margin_accounts", "Tracked margin accounts, by risk level.", labels=["level"]
    )
    totals: Counter[str] = Counter(dict.fromkeys(LEVEL_NAMES, 0))
    for engine in engines:
        totals.update(engine.level_counts())
    for name in LEVEL_NAMES:
        family.add_metric([name], totals[name])
    return family


def _positions(engines: list[Engine]) -> Iterator[Metric]:
    positions = GaugeMetricFamily(
        "riskmon_positions", "Open positions, by symbol.", labels=["symbol"]
    )
    at_risk = GaugeMetricFamily(
        "riskmon_notional_at_risk",
        "Notional (settle asset, at the mark) of positions whose margin account is at `level`"
        " (watch and above), by symbol.",
        labels=["symbol", "level"],
    )
    counts: Counter[str] = Counter()
    notional: dict[tuple[str, int], float] = {}
    for engine in engines:
        for symbol, block in enumerate(engine.blocks):
            name = engine.instruments[symbol].symbol
            counts[name] += len(block)
            for level, amount in _notional_by_level(engine, symbol):
                notional[(name, level)] = notional.get((name, level), 0.0) + amount
    for name in sorted(counts):
        positions.add_metric([name], counts[name])
        for level in AT_RISK:
            at_risk.add_metric([name, LEVEL_NAMES[level]], notional.get((name, level), 0.0))
    yield positions
    yield at_risk


def _notional_by_level(engine: Engine, symbol: int) -> list[tuple[int, float]]:
    block = engine.blocks[symbol]
    if not len(block):
        return []
    instrument = engine.instruments[symbol]
    quantity = np.abs(float_view(block.size)) * instrument.contract_size
    mark = engine.marks[symbol]
    price = float_view(block.entry) if mark is None else mark
    notional = quantity * price if instrument.kind == "linear" else quantity / price
    levels = int8_view(engine.margin.level)[int32_view(block.account)].astype(np.intp)
    sums = np.bincount(levels, weights=notional, minlength=len(LEVEL_NAMES))
    return [(level, float(sums[level])) for level in AT_RISK]


def _mark_ages(engines: list[Engine], now: float) -> Metric:
    family = GaugeMetricFamily(
        "riskmon_mark_age_seconds",
        "Seconds since the event time of the symbol's latest mark (wall clock now - ts).",
        labels=["symbol"],
    )
    latest: dict[str, int] = {}
    for engine in engines:
        for symbol, ts in enumerate(engine.mark_times):
            if ts >= 0:
                name = engine.instruments[symbol].symbol
                latest[name] = max(latest.get(name, ts), ts)
    for name in sorted(latest):
        family.add_metric([name], max(0.0, now - latest[name] / 1000.0))
    return family


FUND_GAUGES: Final = {
    "balance": ("balance", "Insurance fund balance.", ["asset"]),
    "drawdown": (
        "drawdown_ratio",
        "Fund balance against its peak over the window, minus 1 (<= 0).",
        ["asset", "window"],
    ),
    "stress": (
        "stress_drawdown",
        "What a gap of `shock` (every mark at once) would cost the fund, slippage included.",
        ["asset", "shock"],
    ),
    "cover": (
        "cover",
        "Cover-N: the deficit of the n (1 or 2) accounts owing most at a gap of `shock`, before "
        "slippage (SPEC §8.1).",
        ["asset", "shock", "n"],
    ),
    "cascade": (
        "cascade_drawdown",
        "What a gap of `shock` would cost the fund once liquidations walk the books and move the "
        "marks, round after round (SPEC §8.2).",
        ["asset", "shock"],
    ),
    "multiplier": (
        "cascade_multiplier",
        "The cascade drawdown over the one-round stress drawdown at `shock` (absent when that is "
        "0).",
        ["asset", "shock"],
    ),
    "haircut": (
        "socialized_haircut",
        "The fraction of positive unrealized PnL a pro-rata haircut would take to cover what the "
        "fund lacks at a gap of `shock` (SPEC §8.3; 0 when the fund covers it, absent without a "
        "balance).",
        ["asset", "shock"],
    ),
    "recommended": (
        "recommended_balance",
        "The fund size SPEC §8.1 recommends: Cover-2 over plausible gaps, or the 24 h expected "
        "shortfall, whichever is larger.",
        ["asset"],
    ),
    "depletion": (
        "depletion_shock",
        "Smallest gap (a fraction, signed) that empties the fund, by direction.",
        ["asset", "direction"],
    ),
    "probability": (
        "depletion_probability",
        "Monte Carlo probability that the drawdown over the horizon exceeds the balance.",
        ["asset", "horizon"],
    ),
}


def _stress_point(
    families: dict[str, GaugeMetricFamily], asset: str, point: dict[str, Any], *, funded: bool
) -> None:
    """One stress entry's gauges: drawdown, Cover-N, cascade, haircut."""
    shock = f"{point['shock']:g}"
    families["stress"].add_metric([asset, shock], point["drawdown"])
    for n in ("1", "2"):
        families["cover"].add_metric([asset, shock, n], point[f"cover_{n}"])
    cascade = point["cascade"]
    families["cascade"].add_metric([asset, shock], cascade["drawdown"])
    if cascade["multiplier"] is not None:
        families["multiplier"].add_metric([asset, shock], cascade["multiplier"])
    if funded:
        allocation = point["allocation"]
        haircut = 0.0 if allocation is None else allocation["socialized"]
        families["haircut"].add_metric([asset, shock], haircut)


def fund_metrics(projection: dict[str, Any]) -> Iterator[Metric]:
    """The fund gauges of SPEC §11 from a projection (`risk.fund.projection`): one process
    (the aggregating worker, or a replay) exports them for the whole book."""
    families = {
        key: GaugeMetricFamily(f"riskmon_insurance_fund_{suffix}", documentation, labels=labels)
        for key, (suffix, documentation, labels) in FUND_GAUGES.items()
    }
    for fund in projection["funds"]:
        asset = fund["asset"]
        if fund["balance"] is not None:
            families["balance"].add_metric([asset], fund["balance"])
        if fund["drawdown_8h"] is not None:
            families["drawdown"].add_metric([asset, "8h"], fund["drawdown_8h"])
        if fund["recommended_balance"] is not None:
            families["recommended"].add_metric([asset], fund["recommended_balance"])
        for point in fund["stress"]:
            _stress_point(families, asset, point, funded=fund["balance"] is not None)
        for direction in ("down", "up"):
            shock = fund[f"depletion_shock_{direction}"]
            if shock is not None:
                families["depletion"].add_metric([asset, direction], shock)
        for stats in fund["monte_carlo"]:
            if stats["depletion_probability"] is not None:
                families["probability"].add_metric(
                    [asset, stats["horizon"]], stats["depletion_probability"]
                )
    yield from families.values()
    liquidation = GaugeMetricFamily(
        "riskmon_liquidation_notional",
        "Notional whose liquidation price lies in a 1% band of distance from the mark.",
        labels=["symbol", "side", "band"],
    )
    for symbol, bands in projection["liquidation_map"].items():
        for band in bands:
            low = f"{band['band'][0]:g}"
            liquidation.add_metric([symbol, "long", low], band["long_notional"])
            liquidation.add_metric([symbol, "short", low], band["short_notional"])
    yield liquidation
    adl = GaugeMetricFamily(
        "riskmon_adl_top_score",
        "Score of the first position in each ADL queue (SPEC §8: profit rate x leverage).",
        labels=["symbol", "side"],
    )
    for symbol, sides in projection["adl"].items():
        for side, entries in sides.items():
            if entries:
                adl.add_metric([symbol, side], entries[0]["score"])
    yield adl
