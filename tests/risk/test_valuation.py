"""Position valuation, linear and inverse (SPEC §4), scalar and vectorized."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk import Instrument
from risk.valuation import value_block, value_position
from tests.risk.builders import BTC_2021_TIERS, make_instrument

BTC = make_instrument("BTCUSDT", tiers=BTC_2021_TIERS)
# Coin-margined BTCUSD: 100 USD contracts, notional in BTC; cum_1 = 5 * (0.005 - 0.004) = 0.005.
BTCUSD = make_instrument(
    "BTCUSD", "inverse", "BTC", [{"cap": 5, "mmr": 0.004}, {"mmr": 0.005}], contract_size=100
)


def test_linear_long() -> None:
    value = value_position(BTC, 2.0, 60000.0, 61000.0)
    # notional = 2 * 1 * 61000 = 122000 (tier 1); uPnL = 2 * (61000 - 60000) = 2000;
    # MM = 122000 * 0.005 - 50 = 560.
    assert (value.notional, value.unrealized_pnl, value.tier) == (122000.0, 2000.0, 1)
    assert value.maintenance == pytest.approx(560.0, rel=1e-12)


def test_linear_short_with_contract_size() -> None:
    eth = make_instrument("ETH", tiers=[{"mmr": 0.01}], contract_size=0.1)
    value = value_position(eth, -30.0, 3000.0, 2500.0)
    # notional = 30 * 0.1 * 2500 = 7500; uPnL = -30 * 0.1 * (2500 - 3000) = 1500;
    # MM = 7500 * 0.01 = 75.
    assert value.notional == pytest.approx(7500.0, rel=1e-12)
    assert value.unrealized_pnl == pytest.approx(1500.0, rel=1e-12)
    assert value.maintenance == pytest.approx(75.0, rel=1e-12)


def test_inverse_long() -> None:
    value = value_position(BTCUSD, 100.0, 50000.0, 40000.0)
    # notional = 100 * 100 / 40000 = 0.25 BTC; uPnL = 100 * 100 * (1/50000 - 1/40000) = -0.05;
    # MM = 0.25 * 0.004 = 0.001.
    assert value.notional == pytest.approx(0.25, rel=1e-12)
    assert value.unrealized_pnl == pytest.approx(-0.05, rel=1e-12)
    assert value.maintenance == pytest.approx(0.001, rel=1e-12)


def test_inverse_short_in_the_second_tier() -> None:
    value = value_position(BTCUSD, -1000.0, 8000.0, 10000.0)
    # notional = 1000 * 100 / 10000 = 10 BTC (tier 1);
    # uPnL = -1000 * 100 * (1/8000 - 1/10000) = -100000 * 0.000025 = -2.5 BTC;
    # MM = 10 * 0.005 - 0.005 = 0.045.
    assert value.notional == pytest.approx(10.0, rel=1e-12)
    assert value.unrealized_pnl == pytest.approx(-2.5, rel=1e-12)
    assert value.maintenance == pytest.approx(0.045, rel=1e-12)
    assert value.tier == 1


@pytest.mark.parametrize(
    ("price", "maintenance", "tier"),
    [
        (10_000.0, 40.0, 0),  # 10000 * 0.004
        (50_000.0, 200.0, 0),  # cap 0: 50000 * 0.004 = 200 (= 50000 * 0.005 - 50)
        (50_001.0, 200.005, 1),  # 50001 * 0.005 - 50
        (250_000.0, 1200.0, 1),  # cap 1: 250000 * 0.005 - 50 (= 250000 * 0.01 - 1300)
        (1_000_000.0, 8700.0, 2),  # cap 2: 1e6 * 0.01 - 1300 (= 1e6 * 0.025 - 16300)
        (3_500_032.458, 71200.81145, 3),  # Binance FAQ: 3500032.458 * 0.025 - 16300
        (10_000_000.0, 233700.0, 3),  # cap 3: 1e7 * 0.025 - 16300 (= 1e7 * 0.05 - 266300)
        (400_000_000.0, 99983700.0, 9),  # 4e8 * 0.5 - 100016300
    ],
)
def test_linear_maintenance_at_several_prices(price: float, maintenance: float, tier: int) -> None:
    value = value_position(BTC, 1.0, 50_000.0, price)
    assert value.maintenance == pytest.approx(maintenance, rel=1e-12)
    assert value.tier == tier


@pytest.mark.parametrize("cap_index", range(9))
def test_both_tiers_give_the_same_maintenance_at_a_cap(cap_index: int) -> None:
    tiers = BTC.tiers
    cap = tiers.caps[cap_index]
    below = cap * tiers.mmrs[cap_index] - tiers.cums[cap_index]
    above = cap * tiers.mmrs[cap_index + 1] - tiers.cums[cap_index + 1]
    assert value_position(BTC, 1.0, 1.0, cap).maintenance == pytest.approx(below, rel=1e-12)
    assert below == pytest.approx(above, rel=1e-12)


@pytest.mark.parametrize(
    ("price", "maintenance", "tier"),
    [
        (20_000.0, 0.02, 0),  # notional 1000 * 100 / 20000 = 5 = cap: 5 * 0.004
        (19_999.0, 100_000 / 19_999 * 0.005 - 0.005, 1),  # 5.00025 BTC * 0.005 - 0.005 = 0.0200013
        (100_000.0, 0.004, 0),  # notional 1: 1 * 0.004
    ],
)
def test_inverse_maintenance_at_the_cap(price: float, maintenance: float, tier: int) -> None:
    value = value_position(BTCUSD, 1000.0, 20_000.0, price)
    assert value.maintenance == pytest.approx(maintenance, rel=1e-12)
    assert value.tier == tier


def random_block(
    instrument: Instrument, seed: int, rows: int = 3000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sizes, entries and stale (but valid) cached tiers, spread over every tier."""
    rng = np.random.default_rng(seed)
    size = rng.lognormal(0.0, 3.0, rows) * rng.choice((-1.0, 1.0), rows)
    entry = rng.uniform(100.0, 90_000.0, rows)
    tiers = instrument.tiers
    stale = rng.integers(0, len(tiers.mmrs), rows).astype(np.int16)
    return size, entry, stale


def assert_equals_scalar(
    instrument: Instrument,
    block: tuple[np.ndarray, np.ndarray, np.ndarray],
    price: float | np.ndarray,
    retier: bool,
) -> None:
    size, entry, tier = block
    prices = np.broadcast_to(price, size.shape)
    pnl, maintenance = value_block(instrument, size, entry, price, tier, retier=retier)
    for row in range(size.size):
        expected = value_position(instrument, float(size[row]), float(entry[row]), prices[row])
        # Bitwise: the same float operations in the same order.
        assert pnl[row] == expected.unrealized_pnl, row
        assert maintenance[row] == expected.maintenance, row
        assert tier[row] == expected.tier, row


@pytest.mark.parametrize("retier", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("instrument", [BTC, BTCUSD], ids=["linear", "inverse"])
def test_vector_valuation_equals_scalar_bitwise(
    instrument: Instrument, seed: int, retier: bool
) -> None:
    block = random_block(instrument, seed)
    assert_equals_scalar(instrument, block, 30_000.0, retier)
    # Without a mark the engine values each row at its own entry price (a price array).
    assert_equals_scalar(instrument, block, block[1].copy(), retier)


def test_vector_valuation_on_exact_caps() -> None:
    # Notional = |size| * price = cap exactly, one row per cap, cached in the wrong tier.
    caps = np.array(BTC.tiers.caps)
    size = caps / 1000.0
    tier = np.full(caps.size, 9, dtype=np.int16)
    pnl, maintenance = value_block(BTC, size, np.full(caps.size, 900.0), 1000.0, tier, retier=False)
    assert tier.tolist() == list(range(9))
    for row, cap in enumerate(caps):
        expected = value_position(BTC, float(size[row]), 900.0, 1000.0)
        assert (pnl[row], maintenance[row]) == (expected.unrealized_pnl, expected.maintenance)
        assert maintenance[row] == pytest.approx(BTC.tiers.maintenance(cap), rel=1e-12)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.floats(1e-3, 1e5) | st.floats(-1e5, -1e-3),  # size, long or short
            st.floats(1.0, 1e5),  # entry price
            st.integers(0, 9),  # a cached tier, often stale
        ),
        min_size=1,
        max_size=50,
    ),
    price=st.floats(1.0, 1e5) | st.sampled_from((1000.0, 50_000.0, 250_000.0)),
    retier=st.booleans(),
    inverse=st.booleans(),
)
def test_vector_valuation_equals_scalar_on_random_arrays(
    rows: list[tuple[float, float, int]], price: float, retier: bool, inverse: bool
) -> None:
    instrument = BTCUSD if inverse else BTC
    tier_count = len(instrument.tiers.mmrs)
    size = np.array([row[0] for row in rows])
    entry = np.array([row[1] for row in rows])
    tier = np.array([row[2] % tier_count for row in rows], dtype=np.int16)
    pnl, maintenance = value_block(instrument, size, entry, price, tier, retier=retier)
    for row in range(size.size):
        expected = value_position(instrument, float(size[row]), float(entry[row]), price)
        assert (pnl[row], maintenance[row], tier[row]) == (
            expected.unrealized_pnl,
            expected.maintenance,
            expected.tier,
        )
