"""Hypothesis properties of the risk core (SPEC §3-§7)."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from risk import Engine, Instrument, Outcome, parse_event
from risk.events import Event, Rejection
from risk.instruments import TierTable, tier_table
from risk.retention import Retention
from tests.risk.builders import accepted, balance, definition, make_instrument, mark, position

QUICK = settings(max_examples=200, deadline=None)


def log_floats(low: float, high: float) -> st.SearchStrategy[float]:
    """Floats spread evenly in log scale over [low, high]."""
    return st.floats(math.log10(low), math.log10(high)).map(lambda exponent: 10.0**exponent)


@st.composite
def raw_tiers(draw: st.DrawFn, scale: float = 1e6) -> list[dict[str, float]]:
    """A valid tier list: 1-6 tiers, increasing caps around `scale`, non-decreasing rates."""
    count = draw(st.integers(1, 6))
    caps = sorted({scale * factor for factor in draw(st.lists(log_floats(0.02, 20.0), max_size=5))})
    caps = caps[: count - 1]
    rates = sorted(draw(st.lists(log_floats(1e-4, 0.5), min_size=len(caps) + 1, max_size=6)))
    tiers = [{"cap": cap, "mmr": rate} for cap, rate in zip(caps, rates, strict=False)]
    return [*tiers, {"mmr": rates[len(caps)]}]


def tolerance(tiers: TierTable, notional: float) -> float:
    return 1e-9 * max(1.0, notional * tiers.mmrs[-1])


@QUICK
@given(raw_tiers(), st.lists(log_floats(1e-3, 1e9), min_size=2, max_size=10))
def test_maintenance_is_continuous_at_caps_and_non_decreasing(
    raw: list[dict[str, float]], notionals: list[float]
) -> None:
    tiers = tier_table(raw)
    for k, cap in enumerate(tiers.caps):
        # Tier k at its cap and tier k+1 at its floor give the same number, and a hair above
        # the cap (tier k+1) is no lower.
        below = cap * tiers.mmrs[k] - tiers.cums[k]
        above = cap * tiers.mmrs[k + 1] - tiers.cums[k + 1]
        assert abs(below - above) <= tolerance(tiers, cap)
        just_above = math.nextafter(cap, math.inf)
        assert tiers.maintenance(just_above) >= tiers.maintenance(cap) - tolerance(tiers, cap)
    ordered = sorted(notionals)
    for low, high in itertools.pairwise(ordered):
        assert tiers.maintenance(low) <= tiers.maintenance(high) + tolerance(tiers, high)
    for notional in ordered:
        # Non-decreasing rates make MM convex: MM(N) = max_k (N * mmr_k - cum_k) (ENGINE.md).
        convex = max(notional * mmr - cum for mmr, cum in zip(tiers.mmrs, tiers.cums, strict=True))
        assert abs(tiers.maintenance(notional) - convex) <= tolerance(tiers, notional)


@QUICK
@given(raw_tiers())
def test_derived_cum_follows_the_recurrence_exactly(raw: list[dict[str, float]]) -> None:
    # cum_0 = 0, cum_k = cum_{k-1} + cap_{k-1} * (mmr_k - mmr_{k-1}), in exact rationals.
    tiers = tier_table(raw)
    exact = [Fraction(0)]
    for k in range(1, len(tiers.mmrs)):
        step = Fraction(tiers.caps[k - 1]) * (Fraction(tiers.mmrs[k]) - Fraction(tiers.mmrs[k - 1]))
        exact.append(exact[-1] + step)
    for derived, true in zip(tiers.cums, exact, strict=True):
        assert abs(Fraction(derived) - true) <= Fraction(1e-12) * max(Fraction(1), abs(true))


def ratio_or_infinity(engine: Engine) -> float:
    """The only tracked account's margin ratio; bankrupt (null) counts as +inf."""
    (index,) = engine.tracked_accounts()
    ratio = engine.account_view(index).margin_ratio
    return math.inf if ratio is None else ratio


@QUICK
@given(
    raw=raw_tiers(),
    size=log_floats(0.01, 1e3),
    entry=log_floats(10.0, 1e5),
    contract_size=st.sampled_from((0.001, 1.0, 100.0)),
    collateral=st.floats(-0.5, 1.0),
    moves=st.lists(st.floats(0.2, 2.0), min_size=2, max_size=8),
)
def test_a_leveraged_long_ratio_never_falls_as_its_mark_falls(
    *,
    raw: list[dict[str, float]],
    size: float,
    entry: float,
    contract_size: float,
    collateral: float,
    moves: list[float],
) -> None:
    """Within tier k, with W = wallet, q = size, cs = contract size, EP = entry:

        ratio(P) = (q*cs*P*mmr_k - cum_k) / (W + q*cs*(P - EP)),
        d ratio / dP = q*cs * (mmr_k*(W - q*cs*EP) + cum_k) / equity^2.

    So the ratio rises as P falls exactly when W <= q*cs*EP - cum_k/mmr_k. cum_k/mmr_k grows
    with k (cum_{k+1}/mmr_{k+1} is a weighted mean of cum_k/mmr_k and cap_k > cum_k/mmr_k), so the
    bound of the highest tier K reachable (the tier at the highest mark) covers every lower tier,
    and MM is continuous at caps. An over-collateralized long (W above the bound) really does see
    its ratio fall with the mark, so wallets are drawn at or below the bound (even negative:
    a long in profit can carry a negative wallet). Once equity <= 0 the ratio is +inf, and stays
    so as the mark falls further."""
    prices = sorted((entry * move for move in moves), reverse=True)
    instrument = make_instrument("S", tiers=raw, contract_size=contract_size)
    exposure = size * contract_size
    top = instrument.tiers.tier(exposure * prices[0])
    bound = exposure * entry - instrument.tiers.cums[top] / instrument.tiers.mmrs[top]
    wallet = abs(bound) * collateral if bound > 0 else bound * (1.0 + abs(collateral))
    engine = Engine([instrument])
    accepted(engine, balance("a", "USDT", wallet, 1))
    accepted(engine, position("a", "S", size, entry, 1))
    previous = -math.inf
    for ts, price in enumerate(prices, start=2):
        accepted(engine, mark("S", price, ts))
        ratio = ratio_or_infinity(engine)
        assert ratio >= previous or math.isclose(ratio, previous, rel_tol=1e-9), (prices, ts)
        previous = ratio


def notional(instrument: Instrument, size: float, price: float) -> float:
    """q*cs*P (linear) or q*cs/P (inverse)."""
    per_contract = price if instrument.kind == "linear" else 1.0 / price
    return abs(size) * instrument.contract_size * per_contract


@st.composite
def legs_of_one_symbol(draw: st.DrawFn, isolated: bool) -> list[tuple[str, float, float]]:
    """(position_side, size, entry factor): one one-way leg, or hedge legs (long and short).

    An isolated account holds one leg; in hedge mode that leg is `long` or `short`."""
    hedge = draw(st.booleans())
    sides = ["both"]
    if hedge:
        sides = [draw(st.sampled_from(("long", "short")))] if isolated else ["long", "short"]
    legs = []
    for side in sides:
        sign = {"long": 1.0, "short": -1.0}.get(side) or draw(st.sampled_from((1.0, -1.0)))
        legs.append((side, sign * draw(log_floats(0.01, 1e3)), draw(st.floats(0.7, 1.3))))
    return legs


@st.composite
def margin_accounts(draw: st.DrawFn) -> tuple[list[Instrument], list[dict[str, Any]]]:
    """One account 'a': cross over 1-3 symbols (some with hedge legs) or one isolated position,
    linear or inverse, with tier caps around the positions' notionals (so roots change tier).

    Returns its instruments and the events that build it.
    """
    kind = draw(st.sampled_from(("linear", "inverse")))
    settle = "USDT" if kind == "linear" else "BTC"
    isolated = draw(st.booleans())
    instruments: list[Instrument] = []
    events: list[dict[str, Any]] = []
    gross = 0.0
    for number in range(1 if isolated else draw(st.integers(1, 3))):
        symbol, price = f"S{number}", draw(log_floats(1.0, 1e5))
        unit = make_instrument(
            symbol, kind, settle, None, draw(st.sampled_from((0.01, 1.0, 100.0)))
        )
        legs = draw(legs_of_one_symbol(isolated))
        total = sum(notional(unit, size, price) for _, size, _ in legs)
        instruments.append(unit._replace(tiers=tier_table(draw(raw_tiers(total)))))
        events.append(mark(symbol, price, 1))
        for side, size, factor in legs:
            extra: dict[str, Any] = {"position_side": side}
            if isolated:
                margin = notional(unit, size, price) * draw(st.floats(0.01, 0.9))
                extra.update(mode="isolated", margin=margin)
            events.append(position("a", symbol, size, price * factor, 2, **extra))
        gross += total
    if not isolated:
        wallet = gross * draw(st.floats(0.02, 0.9))
        events.append(balance("a", settle, wallet, 2))
    return instruments, events


def built(instruments: list[Instrument], events: list[dict[str, Any]]) -> Engine:
    engine = Engine(instruments)
    for event in events:
        accepted(engine, event)
    return engine


def gross_scale(engine: Engine, index: int) -> float:
    """|wallet| plus every leg's notional at its mark and at its entry price: the size of the
    terms that cancel in the account's equity, the yardstick for equity == 0."""
    view = engine.account_view(index)
    scale = abs(view.wallet)
    for held in view.positions:
        instrument = engine.instruments[engine.symbols[held.symbol]]
        scale += held.notional + notional(instrument, held.size, held.entry_price)
    return scale


@settings(max_examples=300, deadline=None)
@given(margin_accounts(), st.data())
def test_liquidation_price_gives_ratio_one_and_bankruptcy_price_equity_zero(
    account: tuple[list[Instrument], list[dict[str, Any]]], data: st.DataObject
) -> None:
    instruments, events = account
    engine = built(instruments, events)
    index = data.draw(st.sampled_from(engine.tracked_accounts()))
    held = data.draw(st.sampled_from(engine.account_view(index).positions))
    if held.liquidation_price is not None:
        probe = built(instruments, events)
        accepted(probe, mark(held.symbol, held.liquidation_price, 3))
        ratio = probe.account_view(index).margin_ratio
        assert ratio is not None
        assert abs(ratio - 1.0) <= 1e-9, (held, ratio)
    if held.bankruptcy_price is not None:
        probe = built(instruments, events)
        accepted(probe, mark(held.symbol, held.bankruptcy_price, 3))
        equity = probe.account_view(index).equity
        assert abs(equity) <= 1e-9 * gross_scale(probe, index), (held, equity)


TIER_CHOICES: list[object] = [
    None,
    [{"mmr": 0.01}],
    [{"cap": 100, "mmr": 0.01}, {"cap": 1000, "mmr": 0.05}, {"mmr": 0.2}],
]
BASE_PRICES = {"X": 100.0, "Y": 10.0, "I": 1000.0}
# Money in whole cents, so no wallet is subnormal (an equity of 1e-310 overflows MM / equity,
# see test_levels.test_change_mask_with_an_overflowing_ratio).
WALLETS = st.integers(-500, 10_000).map(lambda cents: cents / 100)
MARGINS = st.integers(0, 5_000).map(lambda cents: cents / 100)


def stream_instruments() -> list[Instrument]:
    return [
        make_instrument("X", tiers=TIER_CHOICES[2], contract_size=10.0),
        make_instrument("Y", tiers=TIER_CHOICES[1], contract_size=10.0),
        make_instrument("I", "inverse", "BTC", TIER_CHOICES[2], contract_size=10.0),
    ]


@st.composite
def stream_events(draw: st.DrawFn) -> dict[str, Any]:
    """One random input: mostly marks, positions and balances, some instrument changes (a few
    moving kind or settle), small timestamps and seqs so that some events are stale."""
    choice = draw(
        st.sampled_from(("mark",) * 4 + ("position",) * 4 + ("balance",) * 2 + ("tiers",))
    )
    symbol = draw(st.sampled_from(("X", "X", "X", "Y", "Y", "I", "I", "Q")))
    base, ts = BASE_PRICES.get(symbol, 1.0), draw(st.integers(0, 40))
    if choice == "mark":
        return mark(symbol, base * draw(st.floats(0.5, 1.5)), ts)
    if choice == "balance":
        asset = draw(st.sampled_from(("USDT", "USDT", "BTC")))
        wallet = draw(WALLETS) * (0.05 if asset == "BTC" else 1.0)
        return balance(draw(st.sampled_from("abc")), asset, wallet, ts)
    if choice == "tiers":
        kind, settle = ("inverse", "BTC") if symbol == "I" else ("linear", "USDT")
        if draw(st.integers(0, 5)) == 0:
            kind, settle = draw(st.sampled_from((("linear", "USDC"), ("inverse", "BTC"))))
        return definition(symbol, kind, settle, draw(st.sampled_from(TIER_CHOICES)), 10.0)
    side = draw(st.sampled_from(("both", "both", "long", "short")))
    size = draw(st.sampled_from((0.0, 1.0, 2.0, 5.0, 20.0))) * (-1.0 if side == "short" else 1.0)
    if side == "both" and draw(st.booleans()):
        size = -size
    extra: dict[str, Any] = {"position_side": side, "seq": draw(st.none() | st.integers(0, 9))}
    if draw(st.booleans()):
        extra.update(mode="isolated", margin=draw(MARGINS) * base / 100)
    entry = base * draw(st.floats(0.8, 1.2))
    return position(draw(st.sampled_from("abc")), symbol, size, entry, ts, **extra)


@st.composite
def event_lists(draw: st.DrawFn) -> list[Event | Rejection]:
    extras = st.sampled_from(
        [
            {"type": "fund", "asset": "USDT", "balance": 1000.0, "ts": 5},
            {"type": "depth", "symbol": "X", "bids": [[99, 1]], "asks": [[101, 1]], "ts": 7},
            {"type": "mark", "symbol": "X", "price": -1, "ts": 3},
            {"type": "position", "account": "a", "symbol": "X", "mode": "isolated"},
        ]
    )
    # One event in twelve is one of the fixed extras.
    one = st.integers(0, 11).flatmap(lambda pick: extras if pick == 0 else stream_events())
    raw = draw(st.lists(one, min_size=20, max_size=80))
    return [parse_event(event) for event in raw]


@settings(max_examples=150, deadline=None)
@given(
    event_lists(),
    st.lists(st.integers(1, 12), min_size=1, max_size=20),
    st.sampled_from((None, 5, 12)),
)
def test_one_by_one_equals_batches_in_random_chunks(
    events: list[Event | Rejection], chunk_sizes: list[int], horizon: int | None
) -> None:
    """Also under a retention horizon short enough to forget (ts span 0..40 ms): one engine
    reclaims after every event, the other only at its sweeps; they must agree."""
    retention = None if horizon is None else Retention(horizon)
    single, batched = (Engine(stream_instruments(), retention=retention) for _ in range(2))
    one_by_one: list[Outcome] = []
    for event in events:
        one_by_one.append(single.apply(event))
        single.reclaim()
    in_batches: list[Outcome] = []
    start, chunk = 0, 0
    while start < len(events):
        size = chunk_sizes[chunk % len(chunk_sizes)]
        in_batches += batched.apply_events(events[start : start + size])
        start, chunk = start + size, chunk + 1
    assert in_batches == one_by_one
    assert [single.account_view(index) for index in single.tracked_accounts()] == [
        batched.account_view(index) for index in batched.tracked_accounts()
    ]
    assert (single.level_counts(), single.replay_time) == (
        batched.level_counts(),
        batched.replay_time,
    )
