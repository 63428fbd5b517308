"""Risk levels with hysteresis (SPEC §5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk import Thresholds
from risk.levels import Level

DEFAULT = Thresholds()
SAFE, WATCH, MARGIN_CALL, LIQUIDATION, BANKRUPT = Level


def next_level(current: Level, ratio: float, thresholds: Thresholds = DEFAULT) -> int:
    """The level after an evaluation at margin ratio `ratio` with equity 100."""
    return thresholds.next_level(current, 100.0, ratio * 100.0)


def test_level_names_in_spec_order() -> None:
    assert [level.label for level in Level] == [
        "safe",
        "watch",
        "margin_call",
        "liquidation",
        "bankrupt",
    ]


@pytest.mark.parametrize(
    ("ratio", "raw"),
    [
        (0.0, SAFE),
        (0.4999, SAFE),
        (0.5, WATCH),  # a threshold is <= r at equality
        (0.7999, WATCH),
        (0.8, MARGIN_CALL),
        (0.9999, MARGIN_CALL),
        (1.0, LIQUIDATION),
        (7.5, LIQUIDATION),
    ],
)
def test_raw_level_is_the_highest_threshold_at_or_below_the_ratio(ratio: float, raw: Level) -> None:
    assert DEFAULT.raw(ratio) == raw
    assert next_level(SAFE, ratio) == raw  # escalation from safe is raw(r)


def test_escalation_is_immediate_and_may_skip_levels() -> None:
    assert next_level(SAFE, 1.0) == LIQUIDATION
    assert next_level(WATCH, 0.85) == MARGIN_CALL


@pytest.mark.parametrize(
    ("current", "ratio", "expected"),
    [
        (LIQUIDATION, 0.96, LIQUIDATION),  # raw(0.96 + 0.05 = 1.01) = liquidation: stays
        (LIQUIDATION, 0.94, MARGIN_CALL),  # raw(0.94 + 0.05 = 0.99) = margin_call
        (LIQUIDATION, 0.6, WATCH),  # raw(0.65) = watch
        (LIQUIDATION, 0.2, SAFE),  # raw(0.25) = safe
        (MARGIN_CALL, 0.76, MARGIN_CALL),  # raw(0.81) = margin_call: stays
        (MARGIN_CALL, 0.74, WATCH),  # raw(0.79) = watch
        (WATCH, 0.46, WATCH),  # raw(0.51) = watch: stays
        (WATCH, 0.44, SAFE),  # raw(0.49) = safe
        (WATCH, 0.0, SAFE),  # raw(0.05) = safe
    ],
)
def test_de_escalation_waits_for_the_hysteresis_band(
    current: Level, ratio: float, expected: Level
) -> None:
    assert next_level(current, ratio) == expected


@pytest.mark.parametrize("current", list(Level))
@pytest.mark.parametrize("equity", [0.0, -0.0, -1e-300, -5.0])
def test_non_positive_equity_is_bankrupt(current: Level, equity: float) -> None:
    assert DEFAULT.next_level(current, equity, 1.0) == BANKRUPT


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [
        (0.1, SAFE),  # raw(0.15)
        (0.47, WATCH),  # raw(0.52)
        (0.77, MARGIN_CALL),  # raw(0.82)
        (2.0, LIQUIDATION),  # raw(2.05)
    ],
)
def test_bankrupt_recovers_to_raw_of_ratio_plus_h(ratio: float, expected: Level) -> None:
    assert next_level(BANKRUPT, ratio) == expected


def test_custom_thresholds_without_hysteresis() -> None:
    custom = Thresholds(watch=0.3, margin_call=0.6, liquidation=0.9, hysteresis=0.0)
    assert next_level(SAFE, 0.6, custom) == MARGIN_CALL
    assert next_level(MARGIN_CALL, 0.5999, custom) == WATCH  # raw(0.5999 + 0) = watch
    assert next_level(LIQUIDATION, 0.9, custom) == LIQUIDATION


def test_a_wide_band_holds_a_level_longer() -> None:
    wide = Thresholds(hysteresis=0.3)
    assert next_level(LIQUIDATION, 0.71, wide) == LIQUIDATION  # raw(1.01)
    assert next_level(LIQUIDATION, 0.69, wide) == MARGIN_CALL  # raw(0.99)


@pytest.mark.parametrize(
    "arguments",
    [
        {"watch": 0.0},
        {"watch": -0.5},
        {"watch": 0.8},  # watch == margin_call
        {"margin_call": 1.0},  # margin_call == liquidation
        {"liquidation": 0.7},  # below margin_call
        {"watch": math.nan},
        {"hysteresis": -0.01},
        {"hysteresis": math.nan},
    ],
)
def test_invalid_thresholds_raise(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        Thresholds(**arguments)


RATIOS = st.one_of(
    st.sampled_from([0.0, 0.45, 0.5, 0.75, 0.8, 0.95, 1.0, 0.5 - 1e-16, 1.0 + 1e-15]),
    st.floats(0.0, 5.0),
)


@st.composite
def accounts(draw: st.DrawFn) -> tuple[int, float, float]:
    """(current level, equity, maintenance): boundary ratios, bankrupt and recovering accounts."""
    current = draw(st.sampled_from(list(Level)))
    if draw(st.integers(0, 4)) == 0:
        bankrupt = draw(st.one_of(st.just(0.0), st.floats(-1e6, -1e-3)))
        return current, bankrupt, draw(st.floats(0.0, 1e6))
    equity = draw(st.floats(1e-3, 1e9))
    return current, equity, draw(RATIOS) * equity


@settings(max_examples=300, deadline=None)
@given(
    st.lists(accounts(), min_size=1, max_size=40),
    st.sampled_from([DEFAULT, Thresholds(0.3, 0.6, 0.9, 0.0), Thresholds(0.5, 0.8, 1.0, 0.3)]),
)
def test_vector_change_mask_equals_scalar_next_level(
    rows: list[tuple[int, float, float]], thresholds: Thresholds
) -> None:
    current = np.array([row[0] for row in rows], dtype=np.int8)
    equity = np.array([row[1] for row in rows])
    maintenance = np.array([row[2] for row in rows])
    expected = [thresholds.next_level(*row) != row[0] for row in rows]
    assert thresholds.changing(current, equity, maintenance).tolist() == expected


@pytest.mark.parametrize(
    ("current", "equity", "changes"),
    [
        # -2e-313 <= 0: bankrupt, whatever 1 / -2e-313 overflows to.
        (SAFE, -2e-313, True),
        # r = 1 / 1e-310 = inf (overflow): raw(inf) = liquidation = current, so no change.
        (LIQUIDATION, 1e-310, False),
        # A bankrupt account at positive equity recovers to raw(inf + h) = liquidation.
        (BANKRUPT, 1e-310, True),
    ],
)
def test_change_mask_with_an_overflowing_ratio(
    current: Level, equity: float, changes: bool
) -> None:
    """Equity of subnormal size (e.g. a wallet of 1e-310) overflows MM / equity to inf.

    The mask must still agree with `next_level`, without a RuntimeWarning (an error under this
    project's pytest settings)."""
    assert (DEFAULT.next_level(current, equity, 1.0) != current) is changes
    mask = DEFAULT.changing(np.array([current], dtype=np.int8), np.array([equity]), np.ones(1))
    assert mask.tolist() == [changes]


@st.composite
def random_thresholds(draw: st.DrawFn) -> Thresholds:
    """Valid thresholds 0 < watch < margin_call < liquidation and a band h >= 0."""
    bounds = sorted(draw(st.sets(st.floats(0.01, 3.0), min_size=3, max_size=3)))
    hysteresis = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.5)))
    return Thresholds(bounds[0], bounds[1], bounds[2], hysteresis)


def edge_ratios(thresholds: Thresholds) -> list[float]:
    """Every threshold t, t - h, t + h and their float neighbours: where the rules switch."""
    ratios = [0.0]
    for bound in thresholds.bounds:
        for centre in (bound, bound - thresholds.hysteresis, bound + thresholds.hysteresis):
            ratios += [centre, math.nextafter(centre, -math.inf), math.nextafter(centre, math.inf)]
    return [ratio for ratio in ratios if ratio >= 0.0]


@settings(max_examples=300, deadline=None)
@given(random_thresholds(), st.data())
def test_change_mask_agrees_at_thresholds_and_band_edges(
    thresholds: Thresholds, data: st.DataObject
) -> None:
    """Equity is a power of two, so MM = r * equity is exact and MM / equity gives r back
    bit for bit: the ratios really sit on t, t - h and their neighbours."""
    ratios = edge_ratios(thresholds)
    rows = data.draw(
        st.lists(
            st.tuples(
                st.sampled_from(list(Level)),
                st.sampled_from([2.0**power for power in (-20, -1, 0, 3, 30)] + [0.0, -1.0]),
                st.sampled_from(ratios) | st.floats(0.0, 4.0),
            ),
            min_size=1,
            max_size=60,
        )
    )
    current = np.array([row[0] for row in rows], dtype=np.int8)
    equity = np.array([row[1] for row in rows])
    maintenance = np.array([row[2] * max(row[1], 1.0) for row in rows])
    expected = [
        thresholds.next_level(level, float(money), float(margin)) != level
        for level, money, margin in zip(current, equity, maintenance, strict=True)
    ]
    assert thresholds.changing(current, equity, maintenance).tolist() == expected


@pytest.mark.parametrize(
    ("current", "ratio", "expected"),
    [
        # Thresholds watch 0.5, margin_call 0.8, liquidation 1.0, h = 0.25 (all exact binary).
        (LIQUIDATION, 0.75, LIQUIDATION),  # raw(0.75 + 0.25 = 1.0) = liquidation: stays
        (LIQUIDATION, 0.5, WATCH),  # raw(0.5 + 0.25 = 0.75) = watch: two levels at once
        (MARGIN_CALL, 0.5625, MARGIN_CALL),  # raw(0.8125) = margin_call: stays
        (WATCH, 0.25, WATCH),  # raw(0.5) = watch: stays
        (WATCH, 0.1875, SAFE),  # raw(0.4375) = safe
    ],
)
def test_de_escalation_at_exactly_threshold_minus_h(
    current: Level, ratio: float, expected: Level
) -> None:
    # At r = t - h, raw(r + h) = raw(t) is the level of t itself: the level holds there.
    band = Thresholds(0.5, 0.8, 1.0, 0.25)
    assert next_level(current, ratio, band) == expected
