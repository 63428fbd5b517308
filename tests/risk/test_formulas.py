"""Unit tests of each formula (SPEC §3-§6), with the arithmetic in comments."""

from __future__ import annotations

import numpy as np
import pytest

from risk import Instrument, Thresholds, parse_event
from risk.events import InstrumentEvent, Rejection
from risk.instruments import tier_table
from risk.levels import Level
from risk.prices import BANKRUPTCY, LIQUIDATION, Leg, solve_price
from risk.valuation import value_block, value_position

BTC_2021 = [
    {"cap": 50000, "mmr": 0.004},
    {"cap": 250000, "mmr": 0.005},
    {"cap": 1000000, "mmr": 0.01},
    {"cap": 10000000, "mmr": 0.025},
    {"mmr": 0.05},
]


def instrument(
    kind: str = "linear", tiers: object = None, contract_size: float = 1.0
) -> Instrument:
    parsed = parse_event(
        {
            "type": "instrument",
            "symbol": "S",
            "kind": kind,
            "settle": "USDT",
            "contract_size": contract_size,
            "tiers": tiers,
        }
    )
    assert isinstance(parsed, InstrumentEvent), parsed
    return parsed.instrument


def test_cum_is_derived_from_caps_and_rates() -> None:
    tiers = tier_table(BTC_2021)
    # cum_1 = 0 + 50000 * (0.005 - 0.004) = 50
    # cum_2 = 50 + 250000 * (0.01 - 0.005) = 1300
    # cum_3 = 1300 + 1000000 * (0.025 - 0.01) = 16300
    # cum_4 = 16300 + 10000000 * (0.05 - 0.025) = 266300
    assert tiers.cums == pytest.approx((0.0, 50.0, 1300.0, 16300.0, 266300.0), rel=1e-12)


def test_binance_faq_bitcoin_maintenance() -> None:
    # 100 BTC at 35000.32458: notional 3,500,032.458 in tier 3: 3500032.458 * 0.025 - 16300.
    assert tier_table(BTC_2021).maintenance(3500032.458) == pytest.approx(71200.81145, rel=1e-12)


def test_given_consistent_cum_is_accepted_and_inconsistent_refused() -> None:
    consistent = [{"cap": 100, "mmr": 0.01}, {"mmr": 0.02, "cum": 1.0}]  # 100 * 0.01 = 1
    assert tier_table(consistent).cums == (0.0, 1.0)
    parsed = parse_event(
        {
            "type": "instrument",
            "symbol": "S",
            "kind": "linear",
            "settle": "U",
            "tiers": [{"cap": 100, "mmr": 0.01}, {"mmr": 0.02, "cum": 1.5}],
        }
    )
    assert parsed == Rejection("invalid tiers: cum inconsistent")


@pytest.mark.parametrize(
    ("tiers", "detail"),
    [
        ({"mmr": 0.1}, "not a list"),
        ([], "empty"),
        ([3], "tier is not an object"),
        ([{"cap": 5, "mmr": 0.1}], "cap on last tier"),
        ([{"mmr": 0.1}, {"mmr": 0.2}], "missing cap"),
        ([{"cap": "x", "mmr": 0.1}, {"mmr": 0.2}], "not a number"),
        ([{"cap": 0, "mmr": 0.1}, {"mmr": 0.2}], "cap must be positive"),
        ([{"cap": 9, "mmr": 0.1}, {"cap": 9, "mmr": 0.1}, {"mmr": 0.2}], "caps must increase"),
        ([{"cap": 9}, {"mmr": 0.2}], "missing mmr"),
        ([{"cap": 9, "mmr": 1.0}, {"mmr": 0.2}], "mmr must be in (0, 1)"),
        ([{"cap": 9, "mmr": 0.3}, {"mmr": 0.2}], "mmr must not decrease"),
        # The cap problem of tier 0 comes before its mmr problem.
        ([{"cap": -1, "mmr": 2}, {"mmr": 0.2}], "cap must be positive"),
    ],
)
def test_invalid_tiers_are_refused_with_their_detail(tiers: object, detail: str) -> None:
    parsed = parse_event(
        {"type": "instrument", "symbol": "S", "kind": "linear", "settle": "U", "tiers": tiers}
    )
    assert parsed == Rejection(f"invalid tiers: {detail}")


def test_default_tier_is_half_a_percent() -> None:
    # 10 contracts at 100: notional 1000, MM = 1000 * 0.005 = 5.
    assert value_position(instrument(), 10.0, 90.0, 100.0).maintenance == pytest.approx(5.0)


def test_linear_valuation() -> None:
    linear = instrument(tiers=BTC_2021)
    value = value_position(linear, -2.0, 60000.0, 61000.0)
    # notional = 2 * 61000 = 122000 (tier 1); uPnL = (61000 - 60000) * -2 = -2000;
    # MM = 122000 * 0.005 - 50 = 560.
    assert value.notional == pytest.approx(122000.0)
    assert value.unrealized_pnl == pytest.approx(-2000.0)
    assert value.maintenance == pytest.approx(560.0)
    assert value.tier == 1


def test_inverse_valuation() -> None:
    inverse = instrument("inverse", [{"cap": 5, "mmr": 0.004}, {"mmr": 0.005}], contract_size=100)
    value = value_position(inverse, 100.0, 50000.0, 40000.0)
    # notional = 100 * 100 / 40000 = 0.25 BTC; uPnL = (1/50000 - 1/40000) * 100 * 100 = -0.05;
    # MM = 0.25 * 0.004 = 0.001.
    assert value.notional == pytest.approx(0.25, rel=1e-12)
    assert value.unrealized_pnl == pytest.approx(-0.05, rel=1e-12)
    assert value.maintenance == pytest.approx(0.001, rel=1e-12)


def test_cap_boundary_belongs_to_the_lower_tier_and_both_agree() -> None:
    linear = instrument(tiers=BTC_2021)
    # notional exactly 50000: tier 0 gives 50000 * 0.004 = 200; tier 1 gives 250 - 50 = 200.
    value = value_position(linear, 1.0, 50000.0, 50000.0)
    assert value.tier == 0
    assert value.maintenance == pytest.approx(200.0)


@pytest.mark.parametrize("kind", ["linear", "inverse"])
def test_vector_valuation_equals_scalar_bitwise(kind: str) -> None:
    chosen = instrument(
        kind,
        BTC_2021
        if kind == "linear"
        else [{"cap": 1, "mmr": 0.01}, {"cap": 8, "mmr": 0.02}, {"mmr": 0.05}],
        10.0,
    )
    rng = np.random.default_rng(5)
    size = rng.normal(0, 50, 2000)
    entry = rng.uniform(100, 90000, 2000)
    price = 30000.0
    stale_tiers = rng.integers(0, 3, 2000).astype(np.int8)
    pnl, maintenance = value_block(chosen, size, entry, price, stale_tiers, retier=False)
    fresh = np.zeros(2000, dtype=np.int8)
    pnl_retier, maintenance_retier = value_block(chosen, size, entry, price, fresh, retier=True)
    for index in range(2000):
        expected = value_position(chosen, float(size[index]), float(entry[index]), price)
        assert (pnl[index], maintenance[index]) == (expected.unrealized_pnl, expected.maintenance)
        assert stale_tiers[index] == fresh[index] == expected.tier
    assert np.array_equal(pnl, pnl_retier)
    assert np.array_equal(maintenance, maintenance_retier)


def test_levels_escalate_at_once_and_fall_back_past_the_hysteresis_band() -> None:
    levels = Thresholds()
    assert levels.next_level(Level.SAFE, 100.0, 50.0) == Level.WATCH  # r = 0.5
    assert levels.next_level(Level.SAFE, 100.0, 100.0) == Level.LIQUIDATION  # r = 1.0, skips two
    # From liquidation: r = 0.96 stays, for raw(0.96 + 0.05) = liquidation.
    assert levels.next_level(Level.LIQUIDATION, 100.0, 96.0) == Level.LIQUIDATION
    # r = 0.94: raw(0.94 + 0.05 = 0.99) = margin_call, below liquidation: drops one.
    assert levels.next_level(Level.LIQUIDATION, 100.0, 94.0) == Level.MARGIN_CALL
    # r = 0.2: raw(0.25) = safe.
    assert levels.next_level(Level.LIQUIDATION, 100.0, 20.0) == Level.SAFE


def test_bankrupt_at_non_positive_equity_and_recovery_to_raw_plus_h() -> None:
    levels = Thresholds()
    assert levels.next_level(Level.SAFE, 0.0, 1.0) == Level.BANKRUPT
    assert levels.next_level(Level.WATCH, -5.0, 1.0) == Level.BANKRUPT
    # Equity back to 100 with MM 77: raw(0.77 + 0.05 = 0.82) = margin_call.
    assert levels.next_level(Level.BANKRUPT, 100.0, 77.0) == Level.MARGIN_CALL


def test_vector_change_mask_equals_scalar_rule_on_boundaries() -> None:
    levels = Thresholds()
    edges = [0.0, 0.45, 0.5, 0.75, 0.8, 0.95, 1.0, 0.5 - 1e-16, 1.0 + 1e-15, 3.0]
    current = np.repeat(np.arange(5, dtype=np.int8), len(edges) * 2)
    equity = np.tile(np.array([100.0] * len(edges) + [-1.0] * len(edges)), 5)
    maintenance = np.tile(np.array(edges * 2) * 100.0, 5)
    expected = [
        levels.next_level(int(c), float(e), float(m)) != c
        for c, e, m in zip(current, equity, maintenance, strict=True)
    ]
    assert levels.changing(current, equity, maintenance).tolist() == expected


def test_invalid_thresholds_raise() -> None:
    with pytest.raises(ValueError, match="0 < watch"):
        Thresholds(watch=0.9, margin_call=0.8)
    with pytest.raises(ValueError, match="hysteresis"):
        Thresholds(hysteresis=-0.1)


def solve(
    chosen: Instrument,
    legs: list[Leg],
    equity: float,
    *,
    weight: float,
    reference: float,
    maintenance: float = 0.0,
) -> float | None:
    return solve_price(
        chosen,
        legs,
        other_equity=equity,
        other_maintenance=maintenance,
        weight=weight,
        reference_price=reference,
    )


def test_linear_closed_form_with_the_tier_at_the_root() -> None:
    btc = instrument(
        tiers=[{"cap": 50000, "mmr": 0.004}, {"cap": 250000, "mmr": 0.005}, {"mmr": 0.01}]
    )
    # 1 long at 60000, isolated margin 6000. At the mark the notional 60000 is in tier 1
    # (mmr 0.005, cum 50). Liquidation: P = (6000 + 50 - 60000) / (0.005 - 1) = 54221.105...,
    # notional 54221 is still tier 1, so it is the root.
    assert solve(
        btc, [Leg(1.0, 60000.0)], 6000.0, weight=LIQUIDATION, reference=60000.0
    ) == pytest.approx(53950.0 / 0.995, rel=1e-12)
    # Bankruptcy: 6000 + (P - 60000) = 0 -> P = 54000.
    assert solve(
        btc, [Leg(1.0, 60000.0)], 6000.0, weight=BANKRUPTCY, reference=60000.0
    ) == pytest.approx(54000.0)


def test_root_tier_differs_from_the_mark_tier() -> None:
    table = instrument(tiers=[{"cap": 1000, "mmr": 0.01}, {"mmr": 0.1}])
    # Short 1 at 900 with 150 margin; at 900 the notional is tier 0. In tier 0 the root would be
    # P = (150 + 0 + 900) / (0.01 + 1) = 1039.6, notional 1039.6 > cap 1000: not tier 0.
    # Tier 1 (cum = 1000 * 0.09 = 90): P = (150 + 90 + 900) / (0.1 + 1) = 1036.36..., in tier 1.
    price = solve(table, [Leg(-1.0, 900.0)], 150.0, weight=LIQUIDATION, reference=900.0)
    assert price == pytest.approx(1140.0 / 1.1, rel=1e-12)


def test_inverse_closed_form() -> None:
    coin = instrument("inverse", [{"cap": 5, "mmr": 0.004}, {"mmr": 0.005}], contract_size=100)
    # Long 100 x 100 USD at 50000 with 0.02 BTC: P = cs*(size + q*mmr) / (E_o + size*cs/EP)
    # = 100 * (100 + 0.4) / (0.02 + 0.2) = 45636.36...
    assert solve(
        coin, [Leg(100.0, 50000.0)], 0.02, weight=LIQUIDATION, reference=50000.0
    ) == pytest.approx(10040.0 / 0.22, rel=1e-12)


def test_hedge_legs_move_together() -> None:
    flat = instrument(tiers=[{"mmr": 0.01}])
    # Long 2 at 100 and short 1 at 100 with 20 wallet: equity = 20 + 2(P-100) - (P-100) = P - 80,
    # MM = 0.01 * 3P = 0.03P. Ratio 1: P - 80 = 0.03P -> P = 80 / 0.97 = 82.47...
    legs = [Leg(2.0, 100.0), Leg(-1.0, 100.0)]
    assert solve(flat, legs, 20.0, weight=LIQUIDATION, reference=100.0) == pytest.approx(
        80 / 0.97, rel=1e-12
    )
    assert solve(flat, legs, 20.0, weight=BANKRUPTCY, reference=100.0) == pytest.approx(
        80.0, rel=1e-12
    )


def test_no_root_gives_none_and_nearest_of_two_roots_wins() -> None:
    flat = instrument(tiers=[{"mmr": 0.01}])
    # A 1x long (wallet 100 for 1 at 100): equity = P, bankrupt only at P = 0: no root in (0, inf).
    assert solve(flat, [Leg(1.0, 100.0)], 100.0, weight=BANKRUPTCY, reference=100.0) is None
    # A hedged account: long 1 and short 1 at 100, wallet 10. Equity is 10 at any P, MM = 0.02P:
    # ratio 1 at P = 500 only, above the mark.
    legs = [Leg(1.0, 100.0), Leg(-1.0, 100.0)]
    assert solve(flat, legs, 10.0, weight=LIQUIDATION, reference=100.0) == pytest.approx(500.0)
    two_roots = instrument(tiers=[{"cap": 300, "mmr": 0.01}, {"mmr": 0.5}])
    # Long 2 and short 1 at 100, wallet 10 (cum_1 = 300 * 0.49 = 147). equity = P - 90.
    # P <= 150 (both legs tier 0): MM = 0.03P, f = 0.97P - 90 = 0 -> P = 92.78 (valid).
    # 150 < P <= 300 (long in tier 1): f = P - 90 - (P - 147) - 0.01P = 57 - 0.01P -> 5700 (no).
    # P > 300 (both in tier 1): f = P - 90 - (P - 147) - (0.5P - 147) = 204 - 0.5P -> P = 408.
    legs = [Leg(2.0, 100.0), Leg(-1.0, 100.0)]
    assert solve(two_roots, legs, 10.0, weight=LIQUIDATION, reference=100.0) == pytest.approx(
        90 / 0.97
    )
    assert solve(two_roots, legs, 10.0, weight=LIQUIDATION, reference=300.0) == pytest.approx(408.0)


def test_other_symbols_maintenance_enters_the_cross_liquidation_price() -> None:
    eth = instrument(tiers=[{"mmr": 0.05}])
    # dYdX cross: short 1.5 ETH at 3000, wallet 1000, beside 1000 STRK at 1.75 with MMF 10%:
    # E_o = 1000, M_o = 1000 * 1.75 * 0.1 = 175.
    # P = (E_o - M_o + cum - size*EP) / (q*mmr - size) = (825 + 4500) / (0.075 + 1.5) = 3380.95
    price = solve(
        eth, [Leg(-1.5, 3000.0)], 1000.0, weight=LIQUIDATION, reference=3000.0, maintenance=175.0
    )
    assert price == pytest.approx(5325.0 / 1.575, rel=1e-12)
