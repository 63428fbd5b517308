"""SPEC §7.1's record fields: properties of effective bankruptcy prices and plans.

Random cross accounts of up to three positions (linear with tiers, inverse, hedge legs) with
random depth snapshots are pushed into `liquidation` or `bankrupt` by a balance event; their
records are checked against what SPEC §7.1 promises, with the slow reference's own tier
arithmetic (tests/reference_input.py) for the plan's outcome.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from risk import Engine, Transition
from tests.reference_input import maintenance_of, parse_instrument
from tests.risk.builders import (
    accepted,
    balance,
    definition,
    make_engine,
    make_instrument,
    mark,
    position,
)

TIERS = [{"cap": 20_000, "mmr": 0.01}, {"cap": 100_000, "mmr": 0.02}, {"mmr": 0.05}]
DEFINITIONS = {
    "L": definition("L", tiers=TIERS),
    "M": definition("M", tiers=[{"mmr": 0.02}], contract_size=0.1),
    "V": definition("V", "inverse", "USDT", [{"cap": 50, "mmr": 0.01}, {"mmr": 0.03}], 10.0),
}
MARKS = {"L": 1_000.0, "M": 50.0, "V": 20_000.0}


def fresh_engine() -> Engine:
    return make_engine(
        *(
            make_instrument(**{k: v for k, v in d.items() if k != "type"})
            for d in DEFINITIONS.values()
        )
    )


def book(price: float, levels: list[tuple[float, float]], side: int) -> list[list[float]]:
    """Levels from (distance in parts of the price, size), best first on side +1 asks / -1
    bids."""
    distance = 0.0
    rows = []
    for gap, size in levels:
        distance += gap
        rows.append([price * (1 + side * distance), size])
    return rows


levels_strategy = st.lists(
    st.tuples(st.floats(0.0001, 0.01), st.floats(0.1, 200.0)), min_size=0, max_size=4
)
leg_strategy = st.tuples(
    st.sampled_from(sorted(MARKS)),
    st.sampled_from(("both", "long", "short")),
    st.floats(0.5, 60.0),
    st.floats(-0.05, 0.05),
)


@st.composite
def liquidating(draw: st.DrawFn) -> tuple[Engine, Transition]:
    """An engine and a record reaching liquidation or bankrupt."""
    engine = fresh_engine()
    for symbol, price in MARKS.items():
        accepted(engine, mark(symbol, price, 1))
        if draw(st.booleans()):
            bids, asks = draw(levels_strategy), draw(levels_strategy)
            accepted(
                engine,
                {
                    "type": "depth",
                    "symbol": symbol,
                    "bids": book(price, bids, -1),
                    "asks": book(price, asks, +1),
                    "ts": 1,
                },
            )
    accepted(engine, balance("a", "USDT", 1e9, 2))
    legs = draw(st.lists(leg_strategy, min_size=1, max_size=3, unique_by=lambda leg: leg[:2]))
    for symbol, side, contracts, entry_offset in legs:
        sign = -1.0 if side == "short" or (side == "both" and draw(st.booleans())) else 1.0
        entry = MARKS[symbol] * (1 + entry_offset)
        accepted(engine, position("a", symbol, sign * contracts, entry, 3, position_side=side))
    view = engine.account_view(engine.tracked_accounts()[0])
    unrealized = view.equity - view.wallet
    share = draw(st.one_of(st.floats(-0.5, 0.0), st.floats(0.6, 1.0)))
    wallet = share * view.maintenance_margin - unrealized
    records = accepted(engine, balance("a", "USDT", wallet, 4)).transitions
    reaching = [r for r in records if r.to_level in ("liquidation", "bankrupt")]
    assume(reaching)
    return engine, reaching[0]


def _distance(price: float | None, mark_price: float | None) -> float:
    assert price is not None
    assert mark_price is not None
    return abs(price - mark_price)


@settings(max_examples=200, deadline=None)
@given(liquidating())
def test_effective_bankruptcy_price_is_never_farther_than_the_bankruptcy_price(
    case: tuple[Engine, Transition],
) -> None:
    engine, record = case
    assert record.effective_bankruptcy_prices is not None
    for view, effective in zip(record.positions, record.effective_bankruptcy_prices, strict=True):
        has_book = view.symbol in engine.depth
        if not has_book or effective is None or view.bankruptcy_price is None:
            assert has_book or effective is None
            continue
        slack = 1e-9 * view.mark_price  # type: ignore[operator]
        assert (
            _distance(effective, view.mark_price)
            <= _distance(view.bankruptcy_price, view.mark_price) + slack
        )
        if record.to_level == "bankrupt":
            assert effective == view.mark_price


@settings(max_examples=100, deadline=None)
@given(liquidating())
def test_an_infinitely_deep_book_gives_the_bankruptcy_price(
    case: tuple[Engine, Transition],
) -> None:
    engine, record = case
    if record.to_level == "bankrupt":
        return
    for symbol, price in MARKS.items():  # every level at the mark, a deep book
        deep = [[price, 1e15]]
        accepted(engine, {"type": "depth", "symbol": symbol, "bids": deep, "asks": deep, "ts": 5})
    reached = _rerecord(engine)
    assert reached.effective_bankruptcy_prices is not None
    for view, effective in zip(reached.positions, reached.effective_bankruptcy_prices, strict=True):
        if view.bankruptcy_price is None:
            assert effective is None
        else:
            assert effective == pytest.approx(view.bankruptcy_price, rel=1e-9)


def _rerecord(engine: Engine) -> Transition:
    """A new record of the account: a safe balance and back to the same wallet."""
    view = engine.account_view(engine.tracked_accounts()[0])
    accepted(engine, balance("a", "USDT", 1e12, 7))
    records = accepted(engine, balance("a", "USDT", view.wallet, 8)).transitions
    assert records
    assert records[-1].to_level in ("liquidation", "bankrupt")
    return records[-1]


@settings(max_examples=300, deadline=None)
@given(liquidating())
def test_applying_the_plan_brings_the_ratio_below_margin_call(
    case: tuple[Engine, Transition],
) -> None:
    engine, record = case
    plan = record.liquidation_plan
    if record.to_level == "bankrupt" or record.equity is None or record.equity <= 0:
        assert plan is None
        return
    if plan is None:
        return
    sizes = {(p.symbol, p.position_side): abs(p.size) for p in record.positions}
    spent = 0.0
    for step in plan:
        assert 0.0 < step.close_size <= sizes[(step.symbol, step.position_side)]
        assert step.slippage >= 0.0
        sizes[(step.symbol, step.position_side)] -= step.close_size
        spent += step.slippage
    assert any(size > 0.0 for size in sizes.values())  # a plan is never a full close
    maintenance = 0.0
    for view in record.positions:
        instrument = parse_instrument(DEFINITIONS[view.symbol])
        quantity, price = sizes[(view.symbol, view.position_side)], view.mark_price
        assert price is not None
        cs = instrument["cs"]
        notional = quantity * cs * (price if instrument["kind"] == "linear" else 1.0 / price)
        maintenance += maintenance_of(instrument, notional)
    equity = record.equity - spent
    assert equity > 0.0
    assert maintenance / equity < engine.thresholds.margin_call
