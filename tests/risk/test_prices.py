"""Liquidation and bankruptcy prices (SPEC §6; docs/ENGINE.md `Prices`)."""

from __future__ import annotations

import pytest

from risk import Instrument
from risk.prices import BANKRUPTCY, LIQUIDATION, Leg, solve_price
from tests.risk.builders import accepted, balance, make_engine, make_instrument, mark, position

# Three BTCUSDT-like tiers: cum_1 = 50000 * 0.001 = 50, cum_2 = 50 + 250000 * 0.005 = 1300.
BTC = make_instrument(
    "BTC", tiers=[{"cap": 50_000, "mmr": 0.004}, {"cap": 250_000, "mmr": 0.005}, {"mmr": 0.01}]
)
ETH = make_instrument("ETH", tiers=[{"mmr": 0.05}])
# BTCUSD, 100 USD contracts: notional in BTC, cum_1 = 5 * 0.001 = 0.005.
BTCUSD = make_instrument(
    "BTCUSD", "inverse", "BTC", [{"cap": 5, "mmr": 0.004}, {"mmr": 0.005}], contract_size=100
)


def solve(
    instrument: Instrument,
    legs: list[Leg],
    other_equity: float,
    *,
    weight: float,
    reference: float,
    other_maintenance: float = 0.0,
) -> float | None:
    return solve_price(
        instrument,
        legs,
        other_equity=other_equity,
        other_maintenance=other_maintenance,
        weight=weight,
        reference_price=reference,
    )


def linear_closed_form(other: float, cum: float, size: float, entry: float, mmr: float) -> float:
    """SPEC §6: (E_o - M_o + cum_k - size*cs*EP) / (cs*(q*mmr_k - size)), `other` = E_o - M_o,
    cs = 1."""
    return (other + cum - size * entry) / (abs(size) * mmr - size)


def inverse_closed_form(other: float, cum: float, size: float, entry: float, mmr: float) -> float:
    """SPEC §6: cs*(size + q*mmr_k) / (E_o - M_o + cum_k + size*cs/EP), cs = 100."""
    return 100 * (size + abs(size) * mmr) / (other + cum + size * 100 / entry)


def test_linear_long() -> None:
    # 1 BTC long at 60000, isolated margin 6000; tier 1 (mmr 0.005, cum 50) at the root:
    # P = (6000 + 50 - 60000) / (0.005 - 1) = -53950 / -0.995 = 54221.105...; 54221 in tier 1.
    price = solve(BTC, [Leg(1.0, 60000.0)], 6000.0, weight=LIQUIDATION, reference=60000.0)
    assert price == pytest.approx(53950.0 / 0.995, rel=1e-12)
    assert price == pytest.approx(linear_closed_form(6000.0, 50.0, 1.0, 60000.0, 0.005))
    # Bankruptcy: 6000 + (P - 60000) = 0 -> P = 54000.
    assert solve(
        BTC, [Leg(1.0, 60000.0)], 6000.0, weight=BANKRUPTCY, reference=60000.0
    ) == pytest.approx(54000.0, rel=1e-12)


def test_linear_short_beside_another_symbols_maintenance() -> None:
    # dYdX cross example: short 1.5 ETH at 3000, wallet 1000, other maintenance 175:
    # P = (1000 - 175 + 0 + 1.5 * 3000) / (1.5 * 0.05 + 1.5) = 5325 / 1.575 = 3380.95...
    price = solve(
        ETH,
        [Leg(-1.5, 3000.0)],
        1000.0,
        weight=LIQUIDATION,
        reference=3000.0,
        other_maintenance=175.0,
    )
    assert price == pytest.approx(5325.0 / 1.575, rel=1e-12)
    assert price == pytest.approx(linear_closed_form(825.0, 0.0, -1.5, 3000.0, 0.05), rel=1e-12)
    # Bankruptcy (maintenance ignored): 1000 - 1.5 * (P - 3000) = 0 -> P = 3000 + 666.67.
    assert solve(
        ETH, [Leg(-1.5, 3000.0)], 1000.0, weight=BANKRUPTCY, reference=3000.0
    ) == pytest.approx(5500.0 / 1.5, rel=1e-12)


def test_inverse_long() -> None:
    # 100 contracts long at 50000 with 0.02 BTC: P = 100 * (100 + 100 * 0.004) / (0.02 + 0.2)
    # = 10040 / 0.22 = 45636.36...; notional 10000 / 45636 = 0.22 BTC, tier 0.
    legs = [Leg(100.0, 50000.0)]
    price = solve(BTCUSD, legs, 0.02, weight=LIQUIDATION, reference=50000.0)
    assert price == pytest.approx(10040.0 / 0.22, rel=1e-12)
    assert price == pytest.approx(inverse_closed_form(0.02, 0.0, 100.0, 50000.0, 0.004))
    # Bankruptcy: 0.02 + 10000 * (1/50000 - 1/P) = 0 -> P = 10000 / 0.22 = 45454.54...
    assert solve(BTCUSD, legs, 0.02, weight=BANKRUPTCY, reference=50000.0) == pytest.approx(
        10000.0 / 0.22, rel=1e-12
    )


def test_inverse_short() -> None:
    # 100 contracts short at 50000 with 0.02 BTC: P = 100 * (-100 + 0.4) / (0.02 - 0.2)
    # = -9960 / -0.18 = 55333.33...; notional 10000 / 55333 = 0.18 BTC, tier 0.
    legs = [Leg(-100.0, 50000.0)]
    price = solve(BTCUSD, legs, 0.02, weight=LIQUIDATION, reference=50000.0)
    assert price == pytest.approx(9960.0 / 0.18, rel=1e-12)
    assert price == pytest.approx(inverse_closed_form(0.02, 0.0, -100.0, 50000.0, 0.004))
    # Bankruptcy: 0.02 - 10000 * (1/50000 - 1/P) = 0 -> P = 10000 / 0.18 = 55555.55...
    assert solve(BTCUSD, legs, 0.02, weight=BANKRUPTCY, reference=50000.0) == pytest.approx(
        10000.0 / 0.18, rel=1e-12
    )


def test_the_tier_at_the_root_differs_from_the_tier_at_the_mark() -> None:
    legs = [Leg(10.0, 30000.0)]  # notional 300000 at the mark: tier 2 (mmr 0.01, cum 1300)
    # With tier 2: P = (60000 + 1300 - 300000) / (0.1 - 10) = 24111.1, notional 241111 <= 250000:
    # not tier 2, so not the root.
    wrong = linear_closed_form(60000.0, 1300.0, 10.0, 30000.0, 0.01)
    # With tier 1: P = (60000 + 50 - 300000) / (0.05 - 10) = 239950 / 9.95 = 24115.58,
    # notional 241155.8 in (50000, 250000]: tier 1 holds, and this is the root.
    right = linear_closed_form(60000.0, 50.0, 10.0, 30000.0, 0.005)
    price = solve(BTC, legs, 60000.0, weight=LIQUIDATION, reference=30000.0)
    assert price is not None
    assert price == pytest.approx(239950.0 / 9.95, rel=1e-12)
    assert price == pytest.approx(right, rel=1e-12)
    assert abs(price - wrong) > 4.0


def test_hedge_legs_in_one_cross_account_move_together() -> None:
    engine = make_engine(make_instrument("X", tiers=[{"mmr": 0.01}]))
    accepted(engine, mark("X", 100.0, 1))
    accepted(engine, balance("a", "USDT", 20.0, 1))
    accepted(engine, position("a", "X", 2.0, 100.0, 2, position_side="long"))
    accepted(engine, position("a", "X", -1.0, 110.0, 2, position_side="short"))
    # equity = 20 + 2 * (P - 100) - (P - 110) = P - 70;  MM = 0.01 * (2P + P) = 0.03P.
    # Liquidation: P - 70 = 0.03P -> P = 70 / 0.97 = 72.16...;  bankruptcy: P = 70.
    (view,) = (engine.account_view(index) for index in engine.tracked_accounts())
    assert view.margin_account == "a/cross/USDT"
    assert [held.position_side for held in view.positions] == ["long", "short"]
    for held in view.positions:
        assert held.liquidation_price == pytest.approx(70.0 / 0.97, rel=1e-12)
        assert held.bankruptcy_price == pytest.approx(70.0, rel=1e-12)


@pytest.mark.parametrize(
    ("instrument", "legs", "other_equity", "weight"),
    [
        # A 1x long: wallet 100 for 1 at 100, equity = P: bankrupt only at P = 0.
        (ETH, [Leg(1.0, 100.0)], 100.0, BANKRUPTCY),
        # ... and equity P = MM 0.05P only at P = 0.
        (ETH, [Leg(1.0, 100.0)], 100.0, LIQUIDATION),
        # A 1x inverse short: 100 contracts (cs 100) at 50000 with 0.2 BTC:
        # equity = 0.2 - 10000 * (1/50000 - u) = 10000u: zero only at u = 0 (P = inf).
        (BTCUSD, [Leg(-100.0, 50000.0)], 0.2, BANKRUPTCY),
        # Perfectly hedged legs: equity = 10 + (P - 100) - (P - 100) = 10 at every P.
        (ETH, [Leg(1.0, 100.0), Leg(-1.0, 100.0)], 10.0, BANKRUPTCY),
        # Over-collateralized long: equity = 200 + (P - 100) > 0.05P for every P > 0.
        (ETH, [Leg(1.0, 100.0)], 200.0, LIQUIDATION),
    ],
)
def test_no_root_in_zero_to_infinity_gives_none(
    instrument: Instrument, legs: list[Leg], other_equity: float, weight: float
) -> None:
    assert solve(instrument, legs, other_equity, weight=weight, reference=100.0) is None


@pytest.mark.parametrize(
    ("wallet", "root"),
    [
        # equity = W + (P - 100) = 0 at P = 100 - W.
        (100.0 * (1 - 1e-12), None),  # P = 1e-10, v below 1e-9 * 100: the boundary root P = 0
        (100.0 * (1 - 1e-6), 1e-4),  # P = 1e-4 = 1e-6 * 100: a real root
    ],
)
def test_a_root_within_1e_9_of_zero_is_the_boundary_root(wallet: float, root: float | None) -> None:
    price = solve(ETH, [Leg(1.0, 100.0)], wallet, weight=BANKRUPTCY, reference=100.0)
    assert price == (None if root is None else pytest.approx(root, rel=1e-6))


# Rates 0.25 then 0.5 above a cap of 100 (cum_1 = 100 * 0.25 = 25). Long 2 and short 1, both at
# 50, wallet 45: equity = 45 + 2(P - 50) - (P - 50) = P - 5. Breakpoints: the long leg at P = 50,
# the short leg at P = 100.
#   P <= 50:        MM = 0.25 * 3P = 0.75P,              f = P - 5 - 0.75P = 0.25P - 5  -> 20
#   50 < P <= 100:  MM = (0.5 * 2P - 25) + 0.25P,        f = 20 - 0.25P                 -> 80
#   P > 100:        MM = 0.5 * 3P - 50,                  f = 45 - 0.5P -> 90, not above 100
TWO_ROOTS = make_instrument("T", tiers=[{"cap": 100, "mmr": 0.25}, {"mmr": 0.5}])
HEDGE = [Leg(2.0, 50.0), Leg(-1.0, 50.0)]


@pytest.mark.parametrize(
    ("reference", "root"),
    [
        (10.0, 20.0),
        (49.0, 20.0),  # |49 - 20| = 29 < |49 - 80| = 31
        (50.0, 20.0),  # equally near (30 and 30): the lower price wins
        (51.0, 80.0),  # 31 > 29
        (500.0, 80.0),
    ],
)
def test_the_root_nearest_the_reference_wins(reference: float, root: float) -> None:
    price = solve(TWO_ROOTS, HEDGE, 45.0, weight=LIQUIDATION, reference=reference)
    assert price == pytest.approx(root, rel=1e-12)


def test_a_position_without_a_mark_is_solved_near_its_entry() -> None:
    engine = make_engine(make_instrument("T", tiers=[{"cap": 100, "mmr": 0.25}, {"mmr": 0.5}]))
    accepted(engine, balance("a", "USDT", 45.0, 1))
    accepted(engine, position("a", "T", 2.0, 50.0, 2, position_side="long"))
    accepted(engine, position("a", "T", -1.0, 50.0, 2, position_side="short"))
    # No mark: both legs valued at 50 (the reference), roots 20 and 80 (see TWO_ROOTS):
    # equally near 50, so the lower one.
    view = engine.account_view(engine.tracked_accounts()[0])
    assert [held.mark_price for held in view.positions] == [None, None]
    assert [held.liquidation_price for held in view.positions] == [
        pytest.approx(20.0, rel=1e-12)
    ] * 2


def test_inverse_root_in_a_higher_tier_than_the_mark() -> None:
    # 1000 contracts (cs 100) long at 21000 with 0.3 BTC: notional at the mark 100000 / 21000
    # = 4.76 BTC, tier 0. As P falls the notional grows past the 5 BTC cap.
    # Tier 0 (mmr 0.004, cum 0): P = 100 * (1000 + 4) / (0.3 + 100000/21000) = 100400 / 5.0619
    # = 19834.43, notional 5.0417 > 5: not tier 0.
    wrong = inverse_closed_form(0.3, 0.0, 1000.0, 21000.0, 0.004)
    # Tier 1 (mmr 0.005, cum 0.005): P = 100 * (1000 + 5) / (0.3 + 0.005 + 4.7619) = 100500 /
    # 5.0669 = 19834.59, notional 5.0417 in (5, inf): the root.
    right = inverse_closed_form(0.3, 0.005, 1000.0, 21000.0, 0.005)
    price = solve(BTCUSD, [Leg(1000.0, 21000.0)], 0.3, weight=LIQUIDATION, reference=21000.0)
    assert price == pytest.approx(100500.0 / (0.305 + 100000.0 / 21000.0), rel=1e-12)
    assert price == pytest.approx(right, rel=1e-12)
    assert price is not None
    assert price != pytest.approx(wrong, rel=1e-6)
    assert BTCUSD.tiers.tier(100000.0 / price) == 1


def test_an_isolated_hedge_leg_is_solved_alone() -> None:
    engine = make_engine(make_instrument("X", tiers=[{"mmr": 0.01}]))
    accepted(engine, mark("X", 100.0, 1))
    isolated = {"mode": "isolated", "margin": 10.0}
    accepted(engine, position("a", "X", 1.0, 100.0, 2, position_side="long", **isolated))
    accepted(engine, position("a", "X", -1.0, 100.0, 2, position_side="short", **isolated))
    views = {
        view.margin_account: view.positions[0]
        for view in (engine.account_view(index) for index in engine.tracked_accounts())
    }
    # Long: 10 + (P - 100) = 0.01P -> P = 90 / 0.99 = 90.909...; bankrupt at P = 90.
    long_leg = views["a/isolated/X/long"]
    assert long_leg.liquidation_price == pytest.approx(90.0 / 0.99, rel=1e-12)
    assert long_leg.bankruptcy_price == pytest.approx(90.0, rel=1e-12)
    # Short: 10 - (P - 100) = 0.01P -> P = 110 / 1.01 = 108.91...; bankrupt at P = 110.
    short_leg = views["a/isolated/X/short"]
    assert short_leg.liquidation_price == pytest.approx(110.0 / 1.01, rel=1e-12)
    assert short_leg.bankruptcy_price == pytest.approx(110.0, rel=1e-12)


def test_cross_liquidation_price_holds_the_other_symbols_fixed() -> None:
    engine = make_engine(
        make_instrument("X", tiers=[{"mmr": 0.01}]), make_instrument("Y", tiers=[{"mmr": 0.02}])
    )
    accepted(engine, mark("X", 100.0, 1))
    accepted(engine, mark("Y", 50.0, 1))
    accepted(engine, balance("a", "USDT", 30.0, 1))
    accepted(engine, position("a", "X", 1.0, 100.0, 2))
    accepted(engine, position("a", "Y", -2.0, 40.0, 2))
    # Y: uPnL -2 * (50 - 40) = -20, MM 100 * 0.02 = 2. For X: E_o = 30 - 20 = 10, M_o = 2;
    # P = (10 - 2 + 0 - 100) / (0.01 - 1) = -92 / -0.99 = 92.929...; bankrupt at 10 + P - 100 = 0
    # -> P = 90.
    view = engine.account_view(engine.tracked_accounts()[0])
    x_leg = view.positions[0]
    assert x_leg.symbol == "X"
    assert x_leg.liquidation_price == pytest.approx(92.0 / 0.99, rel=1e-12)
    assert x_leg.bankruptcy_price == pytest.approx(90.0, rel=1e-12)
    # For Y: E_o = 30 + 0 = 30, M_o = 1; short: P = (30 - 1 + 80) / (0.04 + 2) = 109 / 2.04.
    assert view.positions[1].liquidation_price == pytest.approx(109.0 / 2.04, rel=1e-12)
