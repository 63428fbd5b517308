"""Instrument definitions and maintenance tier tables (SPEC §3; docs/ENGINE.md `invalid tiers`)."""

from __future__ import annotations

from typing import Any

import pytest

from risk import parse_event
from risk.events import InstrumentEvent, Rejection
from risk.instruments import tier_table
from tests.risk.builders import BTC_2021_CUMS, BTC_2021_TIERS, definition, make_instrument


def parsed_tiers(tiers: object) -> InstrumentEvent | Rejection:
    parsed = parse_event(definition(tiers=tiers))
    assert isinstance(parsed, InstrumentEvent | Rejection)
    return parsed


@pytest.mark.parametrize(
    ("tiers", "detail"),
    [
        ({"mmr": 0.1}, "not a list"),
        ("tiers", "not a list"),
        (5, "not a list"),
        ([], "empty"),
        ([3], "tier is not an object"),
        ([{"cap": 10, "mmr": 0.1}, [0.2]], "tier is not an object"),
        ([{"cap": 5, "mmr": 0.1}], "cap on last tier"),
        ([{"cap": 5, "mmr": 0.1}, {"cap": 9, "mmr": 0.2}], "cap on last tier"),
        ([{"mmr": 0.1}, {"mmr": 0.2}], "missing cap"),
        ([{"cap": None, "mmr": 0.1}, {"mmr": 0.2}], "missing cap"),
        ([{"cap": "x", "mmr": 0.1}, {"mmr": 0.2}], "not a number"),
        ([{"cap": "NaN", "mmr": 0.1}, {"mmr": 0.2}], "not a number"),
        ([{"cap": float("inf"), "mmr": 0.1}, {"mmr": 0.2}], "not a number"),
        ([{"cap": True, "mmr": 0.1}, {"mmr": 0.2}], "not a number"),
        ([{"cap": 10, "mmr": "x"}, {"mmr": 0.2}], "not a number"),
        ([{"cap": 10, "mmr": 0.1, "cum": []}, {"mmr": 0.2}], "not a number"),
        ([{"cap": 0, "mmr": 0.1}, {"mmr": 0.2}], "cap must be positive"),
        ([{"cap": -1, "mmr": 0.1}, {"mmr": 0.2}], "cap must be positive"),
        ([{"cap": 9, "mmr": 0.1}, {"cap": 9, "mmr": 0.1}, {"mmr": 0.2}], "caps must increase"),
        ([{"cap": 9, "mmr": 0.1}, {"cap": 8, "mmr": 0.1}, {"mmr": 0.2}], "caps must increase"),
        ([{"cap": 9}, {"mmr": 0.2}], "missing mmr"),
        ([{"mmr": None}], "missing mmr"),
        ([{"mmr": 0}], "mmr must be in (0, 1)"),
        ([{"mmr": -0.1}], "mmr must be in (0, 1)"),
        ([{"mmr": 1}], "mmr must be in (0, 1)"),
        ([{"cap": 9, "mmr": 0.3}, {"mmr": 0.2}], "mmr must not decrease"),
        ([{"cap": 100, "mmr": 0.01}, {"mmr": 0.02, "cum": 1.5}], "cum inconsistent"),
        ([{"mmr": 0.01, "cum": 1}], "cum inconsistent"),
    ],
)
def test_each_invalid_tiers_detail(tiers: object, detail: str) -> None:
    assert parsed_tiers(tiers) == Rejection(f"invalid tiers: {detail}")


@pytest.mark.parametrize(
    ("tiers", "detail"),
    [
        # Within one tier: cap before mmr.
        ([{"cap": -1, "mmr": 2}, {"mmr": 0.2}], "cap must be positive"),
        # Within one tier: mmr before cum.
        ([{"cap": 10, "mmr": 1.5, "cum": "x"}, {"mmr": 0.2}], "mmr must be in (0, 1)"),
        # Tier 0's mmr before tier 1's cap.
        ([{"cap": 10}, {"cap": 20, "mmr": 0.2}], "missing mmr"),
        # Tier 0's cum (not a number) before tier 1's cap.
        ([{"cap": 10, "mmr": 0.1, "cum": "x"}, {"cap": 5, "mmr": 0.2}], "not a number"),
        # Tier 0's cap before the object check of tier 1.
        ([{"cap": 0, "mmr": 0.1}, 3], "cap must be positive"),
        # Cap order before the mmr order of the same tier.
        ([{"cap": 10, "mmr": 0.2}, {"cap": 5, "mmr": 0.1}, {"mmr": 0.3}], "caps must increase"),
        # Last tier: its cap before its missing mmr.
        ([{"cap": 10, "mmr": 0.1}, {"cap": 20}], "cap on last tier"),
        # Cum consistency last: tier 0's cum 7 is wrong (cum_0 = 0) but tier 1's mmr comes first.
        ([{"cap": 10, "mmr": 0.1, "cum": 7}, {"mmr": 0.05}], "mmr must not decrease"),
    ],
)
def test_tiers_are_checked_in_order(tiers: object, detail: str) -> None:
    assert parsed_tiers(tiers) == Rejection(f"invalid tiers: {detail}")


def test_cum_is_derived_for_the_btcusdt_2021_table() -> None:
    table = tier_table(BTC_2021_TIERS)
    # cum_1 = 50000 * (0.005 - 0.004) = 50
    # cum_2 = 50 + 250000 * (0.01 - 0.005) = 50 + 1250 = 1300
    # cum_3 = 50 + 1250 + 1000000 * (0.025 - 0.01) = 50 + 1250 + 15000 = 16300
    # cum_4 = 16300 + 10000000 * 0.025 = 266300;  cum_5 = 266300 + 20000000 * 0.05 = 1266300
    # cum_6 = 1266300 + 50000000 * 0.025 = 2516300;  cum_7 = 2516300 + 100000000 * 0.025
    # = 5016300;  cum_8 = 5016300 + 200000000 * 0.1 = 25016300;
    # cum_9 = 25016300 + 300000000 * 0.25 = 100016300
    assert table.cums == pytest.approx(BTC_2021_CUMS, rel=1e-12)
    assert table.caps == (5e4, 2.5e5, 1e6, 1e7, 2e7, 5e7, 1e8, 2e8, 3e8)
    assert table.mmrs == (0.004, 0.005, 0.01, 0.025, 0.05, 0.1, 0.125, 0.15, 0.25, 0.5)


def test_explicit_consistent_cums_are_accepted() -> None:
    given = [{**tier, "cum": cum} for tier, cum in zip(BTC_2021_TIERS, BTC_2021_CUMS, strict=True)]
    table = tier_table(given)
    assert table.cums == pytest.approx(BTC_2021_CUMS, rel=1e-12)


@pytest.mark.parametrize(
    ("cum_3", "accepted"),
    [
        (16300.0 * (1 + 5e-10), True),  # within 1e-9 * 16300
        (16300.0 * (1 + 2e-9), False),  # outside 1e-9 * 16300
        (16301.0, False),
        (0.0, False),
    ],
)
def test_a_given_cum_must_match_the_derived_one(cum_3: float, accepted: bool) -> None:
    tiers: list[dict[str, Any]] = [dict(tier) for tier in BTC_2021_TIERS]
    tiers[3]["cum"] = cum_3
    parsed = parsed_tiers(tiers)
    if accepted:
        assert isinstance(parsed, InstrumentEvent)
    else:
        assert parsed == Rejection("invalid tiers: cum inconsistent")


def test_equal_rates_are_allowed_and_add_no_cum() -> None:
    # cum_1 = 0 + 10 * (0.1 - 0.1) = 0
    table = tier_table([{"cap": 10, "mmr": 0.1}, {"mmr": 0.1}])
    assert (table.caps, table.mmrs, table.cums) == ((10.0,), (0.1, 0.1), (0.0, 0.0))


def test_decimal_strings_in_tiers() -> None:
    table = tier_table([{"cap": "50000", "mmr": "0.004"}, {"mmr": "5e-3", "cum": "50"}])
    assert (table.caps, table.mmrs) == ((50000.0,), (0.004, 0.005))
    assert table.cums == pytest.approx((0.0, 50.0), rel=1e-12)


@pytest.mark.parametrize("tiers", [None, "absent"])
def test_default_tier_is_one_tier_at_half_a_percent(tiers: object) -> None:
    event = definition()
    if tiers == "absent":
        del event["tiers"]
    parsed = parse_event(event)
    assert isinstance(parsed, InstrumentEvent)
    table = parsed.instrument.tiers
    assert (table.caps, table.mmrs, table.cums) == ((), (0.005,), (0.0,))
    # 1,000,000 of notional in the only tier: MM = 1e6 * 0.005 = 5000.
    assert table.maintenance(1e6) == 5000.0


def test_instrument_defaults() -> None:
    parsed = parse_event({"type": "instrument", "symbol": "X", "kind": "inverse", "settle": "BTC"})
    assert isinstance(parsed, InstrumentEvent)
    assert (parsed.instrument.contract_size, parsed.instrument.beta) == (1.0, 1.0)
    assert (parsed.instrument.kind, parsed.instrument.settle) == ("inverse", "BTC")


@pytest.mark.parametrize(
    ("notional", "tier"),
    [(0.0, 0), (50_000.0, 0), (50_000.01, 1), (250_000.0, 1), (250_000.5, 2), (1e12, 9)],
)
def test_a_cap_belongs_to_the_tier_it_bounds(notional: float, tier: int) -> None:
    # floor_k < notional <= cap_k
    assert make_instrument(tiers=BTC_2021_TIERS).tiers.tier(notional) == tier


def linear_tiers(count: int) -> list[dict[str, float]]:
    """`count` valid tiers: caps 1, 2, ..., count - 1 and rates rising by 1e-4 from 1e-4."""
    tiers: list[dict[str, float]] = [
        {"cap": n + 1.0, "mmr": (n + 1) * 1e-4} for n in range(count - 1)
    ]
    return [*tiers, {"mmr": count * 1e-4}]


def test_a_thousand_tiers_are_accepted() -> None:
    table = tier_table(linear_tiers(1000))
    assert len(table.mmrs) == 1000
    # cum_k = sum_{j=1..k} cap_{j-1} * 1e-4 = 1e-4 * (1 + 2 + ... + k) = 1e-4 * k(k+1)/2;
    # cum_999 = 1e-4 * 999 * 1000 / 2 = 49.95.
    assert table.cums[999] == pytest.approx(49.95, rel=1e-12)


def test_more_than_a_thousand_tiers_are_refused() -> None:
    assert parsed_tiers(linear_tiers(1001)) == Rejection("invalid tiers: more than 1000 tiers")


@pytest.mark.parametrize(
    ("tiers", "detail"),
    [
        # The list checks come before any tier: 1001 entries that are not even objects.
        ([3] * 1001, "more than 1000 tiers"),
        # A tier that is not an object is found before a later tier's bad cap.
        (
            [{"cap": 10, "mmr": 0.1}, "x", {"cap": -1, "mmr": 0.2}, {"mmr": 0.3}],
            "tier is not an object",
        ),
        # Tier 0's bad mmr comes before tier 1's cap that does not increase.
        ([{"cap": 10, "mmr": 2}, {"cap": 5, "mmr": 0.2}, {"mmr": 0.3}], "mmr must be in (0, 1)"),
        # Tier 1's cum that is not a number comes before the inconsistent cum of tier 0.
        ([{"cap": 10, "mmr": 0.1, "cum": 3}, {"mmr": 0.2, "cum": "x"}], "not a number"),
        # A cap that is a decimal string is a number; its order is checked like any other.
        (
            [{"cap": "10", "mmr": 0.1}, {"cap": "1e1", "mmr": 0.2}, {"mmr": 0.3}],
            "caps must increase",
        ),
    ],
)
def test_more_check_order_cases(tiers: object, detail: str) -> None:
    assert parsed_tiers(tiers) == Rejection(f"invalid tiers: {detail}")


def test_inverse_table_cum_derivation() -> None:
    # Coin-margined caps in BTC: cum_1 = 5 * (0.01 - 0.005) = 0.025;
    # cum_2 = 0.025 + 10 * (0.02 - 0.01) = 0.025 + 0.1 = 0.125.
    table = tier_table([{"cap": 5, "mmr": 0.005}, {"cap": 10, "mmr": 0.01}, {"mmr": 0.02}])
    assert table.cums == pytest.approx((0.0, 0.025, 0.125), rel=1e-12)
    # MM at notional 12 BTC (tier 2) = 12 * 0.02 - 0.125 = 0.115.
    assert table.maintenance(12.0) == pytest.approx(0.115, rel=1e-12)
