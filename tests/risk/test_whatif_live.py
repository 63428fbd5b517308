"""What-if on the live book (`risk.whatif`, SPEC §10.1): the levels under a proposed tier table
equal what the engine itself does when that table arrives as `instrument` events, and the
vectorized level rule equals the scalar one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from risk import Engine, Thresholds, parse_event
from risk.instruments import Instrument
from risk.levels import next_levels
from risk.whatif import WhatIfError, live_levels
from tests.streamgen import apply_lines, generate_stream, instrument_of


def replayed(seed: int) -> Engine:
    lines, definitions = generate_stream(seed, 400)
    return apply_lines(Engine([instrument_of(item) for item in definitions]), lines)


def scaled(current: Instrument, factor: float) -> dict[str, Any]:
    """The `instrument` event of `current` with its maintenance rates times `factor`."""
    tiers = current.tiers
    rates = [rate * factor for rate in tiers.mmrs]
    table = [{"cap": cap, "mmr": rate} for cap, rate in zip(tiers.caps, rates, strict=False)]
    return {
        "symbol": current.symbol,
        "kind": current.kind,
        "settle": current.settle,
        "contract_size": current.contract_size,
        "beta": current.beta,
        "tiers": [*table, {"mmr": rates[-1]}],
    }


def levels_by_id(engine: Engine) -> dict[str, int]:
    return {
        engine.margin_account_id(account): int(engine.margin.level[account])
        for account in engine.tracked_accounts()
    }


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), symbol=st.integers(0, 3), factor=st.sampled_from((0.4, 2.5)))
def test_live_levels_equal_the_engine_taking_the_table(
    seed: int, symbol: int, factor: float
) -> None:
    engine = replayed(seed)
    before = (levels_by_id(engine), engine.current_totals())
    proposed = scaled(engine.instruments[symbol % len(engine.instruments)], factor)
    found = live_levels(engine, [instrument_of(proposed)], engine.thresholds)
    assert levels_by_id(engine) == before[0]  # the live book is unchanged
    for now, then in zip(engine.current_totals(), before[1], strict=True):
        assert np.array_equal(now, then)
    assert engine.apply(parse_event({"type": "instrument", **proposed})).status == "accepted"
    wanted = levels_by_id(engine)
    names = [engine.margin_account_id(int(account)) for account in found.accounts]
    assert dict(zip(names, found.proposed_level.tolist(), strict=True)) == wanted
    assert dict(zip(names, found.level.tolist(), strict=True)) == before[0]


def test_a_contract_size_change_is_refused() -> None:
    engine = replayed(1)
    current = engine.instruments[0]
    changed = {**scaled(current, 1.0), "contract_size": 2 * current.contract_size}
    with pytest.raises(WhatIfError, match="contract_size cannot change"):
        live_levels(engine, [instrument_of(changed)], engine.thresholds)


ratios = arrays(np.float64, 40, elements=st.floats(-2.0, 3.0))


@settings(max_examples=200, deadline=None)
@given(
    current=arrays(np.int8, 40, elements=st.integers(0, 4)),
    equity=ratios,
    maintenance=arrays(np.float64, 40, elements=st.floats(0.0, 3.0)),
    hysteresis=st.sampled_from((0.0, 0.05, 0.2)),
)
def test_next_levels_is_the_scalar_rule(
    current: np.ndarray[Any, Any],
    equity: np.ndarray[Any, Any],
    maintenance: np.ndarray[Any, Any],
    hysteresis: float,
) -> None:
    thresholds = Thresholds(hysteresis=hysteresis)
    found = next_levels(thresholds, current, equity, maintenance)
    wanted = [
        thresholds.next_level(int(level), float(cash), float(margin))
        for level, cash, margin in zip(current, equity, maintenance, strict=True)
    ]
    assert found.tolist() == wanted
