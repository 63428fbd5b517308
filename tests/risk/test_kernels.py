"""The compiled paths against the scalar ones, and the price bands against a full recompute.

On random streams (tests/streamgen.py: cross and isolated, hedge, inverse, tier crossings,
closes, stale and bad lines, instrument changes), after every event:

- bands: no margin account holds a level that a full recompute at the current marks would
  change, so a skipped row never hid a crossing (docs/ENGINE.md, "Price bands");
- the compiled evaluation (`risk.kernels.accounts`) sums each account to the same bits as the
  scalar `_canonical_totals`, and decides the same level, one account at a time or in bulk.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from risk import Engine, parse_event
from risk.batch import EventBatch
from risk.engine.warmup import warm_up
from risk.events import Event, Rejection
from risk.kernels import accounts as kernel_accounts
from risk.kernels import joint as kernel_joint
from risk.kernels import reconcile as kernel_reconcile
from risk.kernels import updates as kernel_updates
from risk.kernels import valuation as kernel_valuation
from risk.kernels.accounts import CHANGED, EVERY
from risk.levels import Level
from tests.risk.builders import accepted, balance, make_instrument, mark, position
from tests.streamgen import generate_stream

STREAMS = settings(max_examples=25, deadline=None)


def replay_checking(seed: int, events: int) -> Engine:
    """Apply a random stream, checking the invariants after every event."""
    lines, instruments = generate_stream(seed, events)
    engine = Engine([make_instrument(**_fields(item)) for item in instruments])
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        event = parse_event(value)
        if isinstance(event, Rejection):
            continue
        engine.apply(event)
        assert_settled(engine)
    return engine


def _fields(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if key != "type"}


def assert_settled(engine: Engine) -> None:
    """Every tracked account's level is the one its fresh totals give, the compiled totals
    are the scalar ones to the bit, and bulk evaluation agrees with one at a time."""
    accounts = [int(account) for account in engine.tracked_accounts()]
    if not accounts:
        return
    bulk = engine._evaluated(accounts, EVERY)
    for index, account in enumerate(accounts):
        equity, maintenance = engine._canonical_totals(account)
        single = engine._evaluated([account], CHANGED)
        for evaluated, at in ((single, 0), (bulk, index)):
            assert evaluated.equity[at] == equity, (account, evaluated.equity[at], equity)
            assert evaluated.maintenance[at] == maintenance
        level = engine.margin.level[account]
        expected = int(Level.SAFE)
        if engine.margin.positions[account]:
            expected = engine.thresholds.next_level(level, equity, maintenance)
        assert expected == level, (engine.margin_account_id(account), level, expected)
        assert single.level[0] == bulk.level[index] == level


@STREAMS
@given(st.integers(0, 2**32 - 1))
def test_bands_never_hide_a_level_change_and_kernels_match_the_scalar_sums(seed: int) -> None:
    replay_checking(seed, 300)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["linear", "inverse"]))
def test_bands_hold_on_a_one_symbol_book_under_large_moves(seed: int, kind: str) -> None:
    """Many single-symbol accounts (the banded case) near their thresholds, across tiers, on a
    walk with jumps: after every mark the book is settled, and bands were used."""
    rng = random.Random(seed)
    tiers = [{"cap": 20_000, "mmr": 0.01}, {"cap": 200_000, "mmr": 0.025}, {"mmr": 0.05}]
    settle, start = ("USDT", 100.0) if kind == "linear" else ("BTC", 40_000.0)
    scale = 1.0 if kind == "linear" else 1.0 / start
    engine = Engine([make_instrument("S", kind, settle, tiers, 10.0)])
    accepted(engine, mark("S", start, 1))
    for number in range(60):
        name = f"a{number}"
        size = rng.choice([-1.0, 1.0]) * 10 ** rng.uniform(0.0, 3.5)
        entry = start * (1.0 + rng.uniform(-0.02, 0.02))
        notional = abs(size) * 10.0 * (start if kind == "linear" else 1.0 / start)
        wallet = notional * rng.uniform(0.01, 0.3) + 1e-3 * scale
        accepted(engine, balance(name, settle, wallet, 2 + number))
        if rng.random() < 0.7:
            accepted(engine, position(name, "S", size, entry, 2 + number))
            continue
        # hedge mode: a long and a short leg of different sizes
        accepted(engine, position(name, "S", abs(size), entry, 2 + number, position_side="long"))
        other = -abs(size) * rng.uniform(0.2, 0.9)
        accepted(engine, position(name, "S", other, start, 2 + number, position_side="short"))
    price, ts, skipped = start, 1_000, 0
    for _ in range(120):
        step = rng.gauss(0.0, 0.002) if rng.random() < 0.9 else rng.uniform(-0.06, 0.06)
        price *= 1.0 + step
        ts += 1
        accepted(engine, mark("S", price, ts))
        skipped += engine.blocks[0].skipped
        assert_settled(engine)
    assert skipped, "no tick skipped a row: the bands were never exercised"
    assert math.isfinite(float(np.sum(engine.current_totals()[0])))


ENTRY_POINTS = (
    kernel_accounts.gather_members,
    kernel_accounts.evaluate_accounts,
    kernel_valuation.revalue_rows,
    kernel_valuation.tick_rows,
    kernel_valuation.changing_owners,
    kernel_joint.value_jointly,
    kernel_updates.apply_updates,
    kernel_reconcile.sweep_accounts,
)


def _kernel_signatures() -> list[int]:
    """Compiled signatures per kernel the engine calls from Python (numba dispatchers)."""
    return [len(kernel.signatures) for kernel in ENTRY_POINTS]


def test_warm_up_compiles_every_signature_a_stream_needs() -> None:
    """After `warm_up`, a random stream (and account views) compiles nothing new: the wait
    the edge announces is the only one (streams.kernels)."""
    warm_up()
    before = _kernel_signatures()
    assert all(before), before
    engine = replay_checking(7, 400)
    lines, _ = generate_stream(8, 400)
    engine.apply_batch(EventBatch.from_events(_parsed(lines)))
    for index in engine.tracked_accounts():
        engine.account_view(int(index))
    engine.current_totals()
    engine.reconcile(0.0, 5)
    while not engine.reconcile(0.0, 10**9).completed:  # to the end of the pass
        pass
    engine.margin.equity[int(engine.tracked_accounts()[0])] += 1.0
    assert engine.reconcile(0.0, 10**9).repaired
    assert _kernel_signatures() == before


def _parsed(lines: list[str]) -> list[Event | Rejection]:
    events: list[Event | Rejection] = []
    for line in lines:
        try:
            events.append(parse_event(json.loads(line)))
        except ValueError:
            continue
    return events
