"""The demo's market: the book it opens, the scenarios' paths, the liquidation desk, and a
whole flash crash through the monitor (the workers' partition task)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest

from streams.demo.book import FUND_SHARE, MAX_OPENING_RATIO, build_book
from streams.demo.monitor import Monitor
from streams.demo.scenarios import HOUR, SCENARIOS
from streams.demo.simulator import MarketSimulator
from tests.demo.runs import CONFIG, START, crash_run, usdt_stress


def test_the_same_seed_opens_the_same_book_and_another_seed_another() -> None:
    first = build_book(CONFIG.instruments, 300, 0.45, seed=3).events(START)
    assert first == build_book(CONFIG.instruments, 300, 0.45, seed=3).events(START)
    assert first != build_book(CONFIG.instruments, 300, 0.45, seed=4).events(START)


def test_the_book_mixes_modes_kinds_sides_and_leverage() -> None:
    book = build_book(CONFIG.instruments, 2000, 0.45, seed=1)
    positions = [item for held in book.positions.values() for item in held]
    kinds = {item.symbol: item.kind for item in CONFIG.instruments}
    assert Counter(item.mode for item in positions).keys() == {"cross", "isolated"}
    assert Counter(kinds[item.symbol] for item in positions).keys() == {"linear", "inverse"}
    assert {item.position_side for item in positions} == {"both", "long", "short"}
    shorts = sum(item.size < 0 for item in positions if item.position_side == "both")
    assert 0.35 < shorts / sum(item.position_side == "both" for item in positions) < 0.55
    isolated = [item for item in positions if item.mode == "isolated"]
    assert all(item.margin is not None and item.margin > 0 for item in isolated)
    assert set(book.funds) == {"USDT", "USDC", "BTC", "ETH"}


def test_every_account_opens_below_margin_call_and_the_funds_hold_their_share() -> None:
    monitor = Monitor(CONFIG, SCENARIOS["calm"], 1500, seed=2)
    monitor.open(START)
    engine = monitor.engine
    ratios = [engine.account_view(i).margin_ratio for i in engine.tracked_accounts()]
    assert len(ratios) == len(monitor.simulator.book.positions)
    assert all(ratio is not None and ratio <= MAX_OPENING_RATIO + 1e-9 for ratio in ratios)
    assert monitor.engine.level_counts()["watch"] > 0  # some open close to the edge
    notional: dict[str, float] = {}
    for index in engine.tracked_accounts():
        view = engine.account_view(index)
        total = sum(position.notional for position in view.positions)
        notional[view.settle] = notional.get(view.settle, 0.0) + total
    for asset, balance in monitor.simulator.book.funds.items():
        assert balance == pytest.approx(FUND_SHARE * notional[asset], rel=1e-6)
    assert monitor.rejects == Counter()


@pytest.mark.parametrize(
    ("name", "at_hours", "multiple"),
    [
        ("flash-crash", 10, 0.80),
        ("flash-crash", 22, 0.60),
        ("flash-crash", 100, 0.66),  # holds after the last knot
        ("cascade", 70 / 60, 0.86),
        ("squeeze", 75 / 60, 1.35),
        ("calm", 3, 1.0),
    ],
)
def test_scenario_paths_pass_through_their_knots(
    name: str, at_hours: float, multiple: float
) -> None:
    assert SCENARIOS[name].market_move(at_hours * HOUR) == pytest.approx(math.log(multiple))


def test_flash_crash_interpolates_in_log_space_and_thins_the_book() -> None:
    scenario = SCENARIOS["flash-crash"]
    middle = scenario.market_move(21 * HOUR)
    assert middle == pytest.approx((math.log(0.74) + math.log(0.60)) / 2)
    assert scenario.depth(22 * HOUR) == pytest.approx(0.2)
    assert scenario.depth(0) == 1.0


def marks_over(scenario: str, hours: float, steps: int) -> list[dict[str, Any]]:
    simulator = MarketSimulator(CONFIG.instruments, SCENARIOS[scenario], 200, seed=5)
    simulator.opening(START)
    events: list[dict[str, Any]] = []
    for step in range(1, steps + 1):
        events = simulator.advance(START + round(step * hours * HOUR * 1000 / steps))
    return [event for event in events if event["type"] == "mark"]


def test_marks_follow_the_scenario_by_beta_with_noise() -> None:
    marks = {event["symbol"]: event["price"] for event in marks_over("flash-crash", 22, 88)}
    betas = {item.symbol: item.beta for item in CONFIG.instruments}
    assert marks["BTCUSDT"] / 65_000 == pytest.approx(0.60, rel=0.15)
    for symbol, price in marks.items():
        opening = MarketSimulator(CONFIG.instruments, SCENARIOS["calm"], 1, 0).opening_marks
        scripted = math.log(0.60) * betas[symbol]
        assert math.log(price / opening[symbol]) == pytest.approx(scripted, abs=0.2), symbol


def test_the_desk_closes_an_account_and_the_fund_absorbs_its_equity() -> None:
    simulator = MarketSimulator(CONFIG.instruments, SCENARIOS["calm"], 50, seed=1)
    simulator.opening(START)
    margin_account = next(name for name in simulator.book.positions if "/cross/USDT" in name)
    before = simulator.funds["USDT"]
    events = simulator.take_over(margin_account, -1234.5, START + 1)
    closing = [event for event in events if event["type"] == "position"]
    assert closing
    assert all(event["size"] == 0.0 for event in closing)
    assert [event["wallet"] for event in events if event["type"] == "balance"] == [0.0]
    assert events[-1] == {
        "type": "fund",
        "asset": "USDT",
        "balance": before - 1234.5,
        "ts": START + 1,
    }
    assert simulator.take_over(margin_account, -1.0, START + 2) == []  # only once
    other = next(
        name
        for name in simulator.book.positions
        if "/cross/USDT" in name and name != margin_account
    )
    emptied = simulator.take_over(other, -(before * 2), START + 3)
    assert emptied[-1]["balance"] == 0.0  # a fund never goes negative: the rest is socialised
    assert simulator.socialised["USDT"] == pytest.approx(before * 2 - (before - 1234.5))


def test_a_flash_crash_drives_accounts_into_liquidation_and_the_desk_takes_them() -> None:
    monitor, _ = crash_run()
    into = Counter(to for (_, to), count in monitor.level_transitions.items() for _ in range(count))
    assert into["liquidation"] >= 100
    assert into["bankrupt"] >= 10
    assert len(monitor.simulator.taken_over) >= 100
    assert into["safe"] >= len(monitor.simulator.taken_over)  # closed accounts go to safe
    assert monitor.rejects == Counter()
    assert {outcome for _, outcome in monitor.outcomes} == {"accepted"}  # none stale either
    assert monitor.outcomes[("mark", "accepted")] == 10 * 241


def test_a_flash_crash_raises_the_stress_drawdown_of_the_fund() -> None:
    _, projections = crash_run()
    opening = usdt_stress(projections[0], -0.2)
    worst = max(usdt_stress(projection, -0.2) for projection in projections)
    assert worst > 1.25 * opening
    closest = min(
        -fund["depletion_shock_down"]
        for projection in projections
        for fund in projection["funds"]
        if fund["asset"] == "USDT" and fund["depletion_shock_down"] is not None
    )
    first = next(f for f in projections[0]["funds"] if f["asset"] == "USDT")
    assert closest < -first["depletion_shock_down"]


def test_the_demo_exports_the_workers_metrics_from_its_engine() -> None:
    monitor, _ = crash_run()
    registry = monitor.registry
    for level, count in monitor.engine.level_counts().items():
        value = registry.get_sample_value("riskmon_margin_accounts", {"level": level})
        assert value == count
    accepted = registry.get_sample_value(
        "riskmon_events_total", {"type": "mark", "outcome": "accepted"}
    )
    assert accepted == 10 * 241
    assert registry.get_sample_value("riskmon_insurance_fund_balance", {"asset": "USDT"}) == (
        next(f["balance"] for f in monitor.latest["funds"] if f["asset"] == "USDT")  # type: ignore[index]
    )
    age = registry.get_sample_value("riskmon_mark_age_seconds", {"symbol": "BTCUSDT"})
    assert age == 0.0  # simulated clock: the last mark is now
