"""Hypothesis properties of the core (issue: risk engine, tests)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from risk import Engine, Instrument, Outcome, Thresholds, parse_event
from risk.events import InstrumentEvent
from risk.instruments import TierTable, tier_table
from risk.levels import Level
from streams.codec import decode_event
from tests.streamgen import INSTRUMENTS, generate_stream

FAST = settings(max_examples=150, deadline=None)


@st.composite
def tier_tables(draw: st.DrawFn) -> TierTable:
    """Random valid tables: increasing caps, non-decreasing mmr in (0, 1), cum derived."""
    count = draw(st.integers(1, 8))
    caps = sorted(set(draw(st.lists(st.floats(1.0, 1e8), min_size=count - 1, max_size=count - 1))))
    rates = sorted(
        draw(st.lists(st.floats(1e-4, 0.5), min_size=len(caps) + 1, max_size=len(caps) + 1))
    )
    raw: list[dict[str, float]] = [
        {"cap": cap, "mmr": mmr} for cap, mmr in zip(caps, rates, strict=False)
    ]
    raw.append({"mmr": rates[-1]})
    return tier_table(raw)


@FAST
@given(tier_tables(), st.floats(0.0, 1e9), st.floats(0.0, 1e9))
def test_maintenance_is_continuous_and_non_decreasing(
    tiers: TierTable, first: float, second: float
) -> None:
    low, high = sorted((first, second))
    assert tiers.maintenance(low) <= tiers.maintenance(high) + 1e-9 * max(1.0, high)
    for k, cap in enumerate(tiers.caps):
        # At cap_k, tier k gives cap*mmr_k - cum_k and tier k+1 gives cap*mmr_{k+1} - cum_{k+1};
        # cum_{k+1} - cum_k = cap*(mmr_{k+1} - mmr_k) makes them equal.
        below = cap * tiers.mmrs[k] - tiers.cums[k]
        above = cap * tiers.mmrs[k + 1] - tiers.cums[k + 1]
        assert abs(below - above) <= 1e-9 * max(1.0, abs(below))


def make_instrument(kind: str, tiers: TierTable, contract_size: float = 1.0) -> Instrument:
    parsed = parse_event(
        {
            "type": "instrument",
            "symbol": "S",
            "kind": kind,
            "settle": "USDT",
            "contract_size": contract_size,
        }
    )
    assert isinstance(parsed, InstrumentEvent)
    return parsed.instrument._replace(tiers=tiers)


def accepted(engine: Engine, event: dict[str, Any]) -> Outcome:
    outcome = engine.apply(parse_event(event))
    assert outcome.status == "accepted", (outcome, event)
    return outcome


def ratio_at(engine: Engine, price: float, ts: int) -> float:
    """The single tracked account's ratio at mark `price` (+inf once bankrupt)."""
    accepted(engine, {"type": "mark", "symbol": "S", "price": price, "ts": ts})
    view = engine.account_view(engine.tracked_accounts()[0])
    return np.inf if view.margin_ratio is None else view.margin_ratio


@FAST
@given(
    tier_tables(),
    st.floats(0.01, 100.0),
    st.floats(100.0, 1e5),
    st.floats(0.05, 1.0),
    st.tuples(st.floats(0.3, 1.5), st.floats(0.3, 1.5)),
)
def test_leveraged_long_ratio_never_falls_as_its_mark_falls(
    tiers: TierTable, size: float, entry: float, collateral: float, moves: tuple[float, float]
) -> None:
    """Within tier k, ratio(P) = (q*cs*P*mmr_k - cum_k) / (W + q*cs*(P - EP)), whose derivative
    has the sign of mmr_k*(W - q*cs*EP) + cum_k. It is <= 0, so the ratio rises as P falls,
    exactly when the wallet W <= q*cs*EP - cum_k/mmr_k: a leveraged long. An over-collateralized
    long (W above that) really does see its ratio fall with the mark, so the property is drawn
    over wallets below the bound for the highest tier reachable."""
    top = tiers.tier(size * entry * 1.5)
    bound = size * entry - max(tiers.cums[k] / tiers.mmrs[k] for k in range(top + 1))
    assume(bound > 0)
    wallet = bound * collateral
    engine = Engine([make_instrument("linear", tiers)])
    accepted(
        engine, {"type": "balance", "account": "a", "asset": "USDT", "wallet": wallet, "ts": 1}
    )
    accepted(
        engine,
        {
            "type": "position",
            "account": "a",
            "symbol": "S",
            "size": size,
            "entry_price": entry,
            "ts": 1,
        },
    )
    high, low = entry * max(moves), entry * min(moves)
    ratio_high, ratio_low = ratio_at(engine, high, 2), ratio_at(engine, low, 3)
    assert ratio_low >= ratio_high * (1 - 1e-12)


@st.composite
def accounts(draw: st.DrawFn) -> tuple[Engine, float]:
    """An engine with one random margin account over 1-3 symbols, and its gross notional."""
    kind = draw(st.sampled_from(("linear", "inverse")))
    instruments = [
        make_instrument(kind, draw(tier_tables()))._replace(symbol=f"S{n}") for n in range(3)
    ]
    engine = Engine(instruments)
    isolated = draw(st.booleans())
    gross = 0.0
    for number in range(1 if isolated else draw(st.integers(1, 3))):
        symbol, price = f"S{number}", draw(st.floats(1.0, 1e5))
        accepted(engine, {"type": "mark", "symbol": symbol, "price": price, "ts": 1})
        sides = ["both"] if isolated or draw(st.booleans()) else ["long", "short"]
        for side in sides:
            sign = {"long": 1, "short": -1}.get(side) or draw(st.sampled_from((1, -1)))
            size = sign * draw(st.floats(0.01, 1e3))
            entry = price * draw(st.floats(0.7, 1.3))
            gross += abs(size) * (price if kind == "linear" else 1 / price)
            event = {
                "type": "position",
                "account": "a",
                "symbol": symbol,
                "size": size,
                "entry_price": entry,
                "position_side": side,
                "ts": 2,
            }
            if isolated:
                event.update(
                    mode="isolated",
                    margin=abs(size)
                    * draw(st.floats(0.01, 2.0))
                    * (price if kind == "linear" else 1 / price),
                )
            accepted(engine, event)
    if not isolated:
        wallet = gross * draw(st.floats(0.02, 2.0))
        accepted(
            engine, {"type": "balance", "account": "a", "asset": "USDT", "wallet": wallet, "ts": 2}
        )
    return engine, gross


@settings(max_examples=200, deadline=None)
@given(accounts(), st.data())
def test_liquidation_price_gives_ratio_one_and_bankruptcy_price_equity_zero(
    built: tuple[Engine, float], data: st.DataObject
) -> None:
    engine, _ = built
    view = engine.account_view(engine.tracked_accounts()[0])
    position = data.draw(st.sampled_from(view.positions))
    for price, check in (
        (position.liquidation_price, "ratio"),
        (position.bankruptcy_price, "equity"),
    ):
        if price is None:
            continue
        probe = Engine(engine.instruments)
        replay_into(probe, engine)
        accepted(probe, {"type": "mark", "symbol": position.symbol, "price": price, "ts": 10})
        moved = probe.account_view(probe.tracked_accounts()[0])
        scale = abs(moved.wallet) + sum(
            abs(p.notional) + abs(p.unrealized_pnl) for p in moved.positions
        )
        if check == "ratio":
            # Equity = maintenance margin at the liquidation price: ratio 1.
            assert abs(moved.equity - moved.maintenance_margin) <= 1e-9 * scale
            if moved.equity > 1e-6 * scale:
                assert moved.margin_ratio is not None
                assert abs(moved.margin_ratio - 1.0) <= 1e-6
        else:
            assert abs(moved.equity) <= 1e-9 * scale


def replay_into(probe: Engine, engine: Engine) -> None:
    """Copy `engine`'s single account and marks into `probe` through events."""
    for symbol, index in engine.symbols.items():
        mark = engine.marks[index]
        if mark is not None:
            accepted(probe, {"type": "mark", "symbol": symbol, "price": mark, "ts": 1})
    view = engine.account_view(engine.tracked_accounts()[0])
    for position in view.positions:
        event: dict[str, Any] = {
            "type": "position",
            "account": view.account,
            "symbol": position.symbol,
            "size": position.size,
            "entry_price": position.entry_price,
            "position_side": position.position_side,
            "ts": 2,
        }
        if view.mode == "isolated":
            event.update(mode="isolated", margin=view.wallet)
        accepted(probe, event)
    if view.mode == "cross":
        accepted(
            probe,
            {
                "type": "balance",
                "account": view.account,
                "asset": view.settle,
                "wallet": view.wallet,
                "ts": 2,
            },
        )


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(1, 60), min_size=1, max_size=40))
def test_one_by_one_equals_batches(seed: int, chunk_sizes: list[int]) -> None:
    lines, _ = generate_stream(seed, 400)
    events = [decode_event(line) for line in lines if line.strip()]
    instruments = []
    for item in INSTRUMENTS:
        parsed = parse_event({"type": "instrument", **item})
        assert isinstance(parsed, InstrumentEvent)
        instruments.append(parsed.instrument)
    single, batched = Engine(instruments, Thresholds()), Engine(instruments, Thresholds())
    one_by_one = [single.apply(event) for event in events]
    in_batches: list[Outcome] = []
    position = 0
    for chunk in range(len(events)):
        if position >= len(events):
            break
        size = chunk_sizes[chunk % len(chunk_sizes)]
        in_batches += batched.apply_batch(events[position : position + size])
        position += size
    assert in_batches == one_by_one
    assert [single.account_view(a) for a in single.tracked_accounts()] == [
        batched.account_view(a) for a in batched.tracked_accounts()
    ]
    assert single.level_counts() == batched.level_counts()
    assert any(outcome.transitions for outcome in one_by_one)


def test_levels_enum_matches_spec_order() -> None:
    assert [level.label for level in Level] == [
        "safe",
        "watch",
        "margin_call",
        "liquidation",
        "bankrupt",
    ]
