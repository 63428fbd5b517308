"""Every SPEC §11 metric, read back through a fresh registry after feeding real tasks."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from risk.engine.bulk import STATUSES
from risk.events import EVENT_TYPES, REASONS
from risk.fund.projection import aggregate_projection
from risk.fund.report import engine_share
from risk.levels import LEVEL_NAMES
from streams.kafka.worker import Worker
from streams.observability.metrics import fund_metrics, register_metrics
from streams.settings import Settings
from tests.streams.test_web import CONFIG, FakeWorker, build_tasks, feed

NOW = 1_000.0  # the scrape's wall clock, in seconds


def scraped(worker: FakeWorker) -> CollectorRegistry:
    registry = CollectorRegistry()
    worker.metrics = register_metrics(registry, worker, clock=lambda: NOW)
    return registry


def one_worker() -> FakeWorker:
    return FakeWorker(build_tasks())  # ten 1 BTC longs at 60,000, mark 59,900 (test_web)


def exposed_names(worker: FakeWorker) -> set[str]:
    """Every sample name the factory's registry can expose, from a worker with a projection:
    families as named, counters with `_total`, histograms with `_bucket`, `_sum`, `_count`."""
    projected(worker)
    registry = CollectorRegistry()
    register_metrics(registry, worker)
    names: set[str] = set()
    for metric in registry.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
        names |= {metric.name, *(metric.name + end for end in suffixes.get(metric.type, []))}
    return names


def levels_of(worker: FakeWorker) -> Counter[str]:
    found: Counter[str] = Counter()
    for engine in worker.engines():
        found.update(engine.account_view(i).level for i in engine.tracked_accounts())
    return found


def test_margin_accounts_by_level() -> None:
    worker = one_worker()
    registry, levels = scraped(worker), levels_of(worker)
    assert sum(levels.values()) == 10
    assert len(levels) >= 3
    for level in ("safe", "watch", "margin_call", "liquidation", "bankrupt"):
        value = registry.get_sample_value("riskmon_margin_accounts", {"level": level})
        assert value == levels[level], level


def test_positions_and_notional_at_risk_by_symbol() -> None:
    worker = one_worker()
    registry, levels = scraped(worker), levels_of(worker)
    assert registry.get_sample_value("riskmon_positions", {"symbol": "BTCUSDT"}) == 10
    assert registry.get_sample_value("riskmon_positions", {"symbol": "ETHUSDT"}) == 0
    for level in ("watch", "margin_call", "liquidation", "bankrupt"):
        labels = {"symbol": "BTCUSDT", "level": level}
        value = registry.get_sample_value("riskmon_notional_at_risk", labels)
        assert value == pytest.approx(59_900.0 * levels[level]), level
    assert (
        registry.get_sample_value(
            "riskmon_notional_at_risk", {"symbol": "BTCUSDT", "level": "safe"}
        )
        is None
    )  # only watch and above


def test_mark_age_is_wall_clock_minus_event_time() -> None:
    worker = one_worker()
    task = worker.tasks[0]
    feed(task, {"type": "mark", "symbol": "ETHUSDT", "price": 3000, "ts": 990_500})
    registry = scraped(worker)
    assert registry.get_sample_value("riskmon_mark_age_seconds", {"symbol": "ETHUSDT"}) == (
        pytest.approx(9.5)
    )
    assert registry.get_sample_value("riskmon_mark_age_seconds", {"symbol": "BTCUSDT"}) == (
        pytest.approx(NOW - 0.004)
    )
    assert registry.get_sample_value("riskmon_mark_age_seconds", {"symbol": "SOLUSDT"}) is None


def test_counters_events_rejects_and_transitions() -> None:
    worker = one_worker()
    worker.outcomes.update({("mark", "accepted"): 3, ("position", "stale"): 2})
    worker.rejects.update({"unknown symbol": 4})
    worker.level_transitions.update({("safe", "watch"): 5, ("watch", "liquidation"): 1})
    registry = scraped(worker)
    events = {"type": "position", "outcome": "stale"}
    assert registry.get_sample_value("riskmon_events_total", events) == 2
    reasons = {"reason": "unknown symbol"}
    assert registry.get_sample_value("riskmon_rejected_events_total", reasons) == 4
    moves = {"from": "watch", "to": "liquidation"}
    assert registry.get_sample_value("riskmon_level_transitions_total", moves) == 1


def test_evaluation_seconds_histogram() -> None:
    worker = one_worker()
    registry = scraped(worker)
    for seconds in (0.003, 0.02, 0.02):
        worker.metrics.evaluation.labels("mark").observe(seconds)
    labels = {"trigger": "mark"}
    assert registry.get_sample_value("riskmon_evaluation_seconds_count", labels) == 3
    assert registry.get_sample_value("riskmon_evaluation_seconds_sum", labels) == (
        pytest.approx(0.043)
    )
    bucket = {"trigger": "mark", "le": "0.005"}
    assert registry.get_sample_value("riskmon_evaluation_seconds_bucket", bucket) == 1


def projected(worker: FakeWorker) -> dict[str, Any]:
    """Feed a profitable short (1 at 60,000 with 1,000), two fund balances (500, then 400),
    and give the worker its latest projection."""
    task = worker.tasks[0]
    feed(task, {"type": "balance", "account": "s", "asset": "USDT", "wallet": 1000, "ts": 5})
    short = {"type": "position", "account": "s", "symbol": "BTCUSDT", "size": -1}
    feed(task, {**short, "entry_price": 60000, "ts": 5})
    feed(worker.tasks[0], {"type": "fund", "asset": "USDT", "balance": 500.0, "ts": 5})
    feed(worker.tasks[0], {"type": "fund", "asset": "USDT", "balance": 400.0, "ts": 6})
    share = engine_share(worker.tasks[0].engine)
    projection = aggregate_projection(share.market, [share])
    worker.fund.latest = projection
    return projection


def test_fund_gauges_come_from_the_latest_projection() -> None:
    worker = one_worker()
    before = scraped(worker)  # no projection yet: no fund gauges
    assert before.get_sample_value("riskmon_insurance_fund_balance", {"asset": "USDT"}) is None
    projection = projected(worker)
    registry = scraped(worker)
    (fund,) = projection["funds"]
    assert registry.get_sample_value("riskmon_insurance_fund_balance", {"asset": "USDT"}) == 400.0
    ratio = {"asset": "USDT", "window": "8h"}
    assert registry.get_sample_value("riskmon_insurance_fund_drawdown_ratio", ratio) == -0.2
    stress = {"asset": "USDT", "shock": "-0.2"}
    expected = next(p["drawdown"] for p in fund["stress"] if p["shock"] == -0.2)
    assert expected > 0
    assert registry.get_sample_value("riskmon_insurance_fund_stress_drawdown", stress) == expected
    point = next(p for p in fund["stress"] if p["shock"] == -0.2)
    assert point["cover_1"] > 0
    for n in ("1", "2"):
        cover = {**stress, "n": n}
        assert (
            registry.get_sample_value("riskmon_insurance_fund_cover", cover) == point[f"cover_{n}"]
        )
    cascade = point["cascade"]
    assert cascade["multiplier"] == 1.0  # no depth: the cascade is the one-round figure
    assert (
        registry.get_sample_value("riskmon_insurance_fund_cascade_drawdown", stress)
        == cascade["drawdown"]
        == expected
    )
    assert registry.get_sample_value("riskmon_insurance_fund_cascade_multiplier", stress) == 1.0
    assert fund["recommended_balance"] is not None
    assert (
        registry.get_sample_value("riskmon_insurance_fund_recommended_balance", {"asset": "USDT"})
        == fund["recommended_balance"]
    )
    down = {"asset": "USDT", "direction": "down"}
    assert (
        registry.get_sample_value("riskmon_insurance_fund_depletion_shock", down)
        == (fund["depletion_shock_down"])
    )
    day = {"asset": "USDT", "horizon": "24h"}
    assert (
        registry.get_sample_value("riskmon_insurance_fund_depletion_probability", day)
        == (fund["monte_carlo"][1]["depletion_probability"])
    )
    assert (
        registry.get_sample_value("riskmon_adl_top_score", {"symbol": "BTCUSDT", "side": "long"})
        is None
    )  # every long lost at 59,900: an empty queue
    cells = projection["liquidation_map"]["BTCUSDT"]
    nearest = next(band for band in cells if band["long_notional"] > 0)
    labels = {"symbol": "BTCUSDT", "side": "long", "band": f"{nearest['band'][0]:g}"}
    assert (
        registry.get_sample_value("riskmon_liquidation_notional", labels)
        == (nearest["long_notional"])
    )


def test_pipeline_lag_rounds_and_restores() -> None:
    worker = one_worker()
    worker.behind = {"riskmon.positions": 12, "riskmon.marks": 0}
    worker.rounds, worker.restores = 7, 2
    registry = scraped(worker)
    lag = {"topic": "riskmon.positions"}
    assert registry.get_sample_value("riskmon_consumer_lag", lag) == 12
    assert registry.get_sample_value("riskmon_consumer_lag", {"topic": "riskmon.marks"}) == 0
    assert registry.get_sample_value("riskmon_worker_rounds_total") == 7
    assert registry.get_sample_value("riskmon_partition_restores_total") == 2


def test_a_real_worker_registers_and_exposes_every_family() -> None:
    async def scrape() -> bytes:
        worker = Worker(Settings(), CONFIG)
        try:
            return generate_latest(worker.registry)
        finally:
            await worker.stop()

    text = asyncio.run(scrape()).decode()
    for name in ("riskmon_margin_accounts", "riskmon_worker_rounds_total", "riskmon_consumer_lag"):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name
    assert "riskmon_worker_rounds_total 0.0" in text
    for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "python_info"):
        assert f"\n{name}" in text, name


def test_a_null_cascade_multiplier_exports_no_sample() -> None:
    projection = projected(one_worker())
    stress = projection["funds"][0]["stress"]
    stress[0]["cascade"]["multiplier"] = None  # a shock at which one round costs nothing
    families = {family.name: family for family in fund_metrics(projection)}
    samples = families["riskmon_insurance_fund_cascade_multiplier"].samples
    assert [sample.labels["shock"] for sample in samples] == [
        f"{point['shock']:g}" for point in stress[1:]
    ]
    drawdowns = families["riskmon_insurance_fund_cascade_drawdown"].samples
    assert [sample.value for sample in drawdowns] == [p["cascade"]["drawdown"] for p in stress]


def test_the_socialized_haircut_of_every_shock() -> None:
    projection = projected(one_worker())
    (fund,) = projection["funds"]
    families = {family.name: family for family in fund_metrics(projection)}
    haircuts = {
        sample.labels["shock"]: sample.value
        for sample in families["riskmon_insurance_fund_socialized_haircut"].samples
    }
    expected = {
        f"{point['shock']:g}": point["allocation"]["socialized"] if point["allocation"] else 0.0
        for point in fund["stress"]
    }
    assert haircuts == expected
    assert all(0.0 < value <= 1.0 for value in haircuts.values())  # 400 is short everywhere
    fund["stress"][0]["allocation"] = None  # a gap the fund covers: no haircut
    families = {family.name: family for family in fund_metrics(projection)}
    first = families["riskmon_insurance_fund_socialized_haircut"].samples[0]
    assert (first.labels["shock"], first.value) == (f"{fund['stress'][0]['shock']:g}", 0.0)
    fund["balance"] = None
    families = {family.name: family for family in fund_metrics(projection)}
    assert not families["riskmon_insurance_fund_socialized_haircut"].samples  # unknown


def test_labelled_counters_start_at_zero() -> None:
    worker = FakeWorker({})  # nothing taken yet
    registry = scraped(worker)
    for event_type in EVENT_TYPES:
        for status in STATUSES:
            labels = {"type": event_type, "outcome": status}
            assert registry.get_sample_value("riskmon_events_total", labels) == 0.0, labels
    for reason in REASONS:
        labels = {"reason": reason}
        assert registry.get_sample_value("riskmon_rejected_events_total", labels) == 0.0
    pairs = [(a, b) for a in LEVEL_NAMES for b in LEVEL_NAMES if a != b]
    for old, new in pairs:
        labels = {"from": old, "to": new}
        assert registry.get_sample_value("riskmon_level_transitions_total", labels) == 0.0
    worker.rejects["unknown symbol"] += 3
    worker.outcomes[("mark", "rejected")] += 3
    registry = scraped(worker)
    reasons = {"reason": "unknown symbol"}
    assert registry.get_sample_value("riskmon_rejected_events_total", reasons) == 3.0
    outcome = {"type": "mark", "outcome": "rejected"}
    assert registry.get_sample_value("riskmon_events_total", outcome) == 3.0
    samples = [s for m in registry.collect() for s in m.samples]
    assert len([s for s in samples if s.name == "riskmon_rejected_events_total"]) == len(REASONS)
