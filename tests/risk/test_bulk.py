"""`apply_batch` against `apply` on each event: the compiled runs change nothing observable.

Streams of a few accounts trading linear and inverse symbols, cross and isolated, one-way and
hedged, with banded marks (small moves, some jumps), balances, closes, mode switches, stale
seqs, unknown symbols and a retention horizon short enough to forget. One engine applies each
event; the other applies the same events as columnar batches of random sizes. Every outcome,
record, account view, running total and clock must be equal, bit for bit, and most position
and balance rows must have gone through the compiled path.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from risk import Engine
from risk.batch import EventBatch
from risk.book import (
    BLOCK_COLUMNS,
    MARGIN_COLUMNS,
    POSITION_COLUMNS,
    addresses,
    float_view,
)
from risk.engine.bulk import BatchOutcome
from risk.events import BalanceEvent, Event, PositionEvent, Rejection, parse_event
from risk.retention import Retention
from tests.risk.builders import balance, make_instrument, mark, position

TIERS = [{"cap": 5_000, "mmr": 0.01}, {"cap": 50_000, "mmr": 0.025}, {"mmr": 0.05}]
PRICES = {"AUSDT": 100.0, "BUSDT": 20.0, "CUSD": 5_000.0}


class CountingEngine(Engine):
    """Counts the rows `apply_batch` hands to the per-event path."""

    one_by_one = 0

    def _apply_one(self, *arguments: Any) -> Any:
        self.one_by_one += 1
        return super()._apply_one(*arguments)


def instruments() -> list[Any]:
    return [
        make_instrument("AUSDT", tiers=TIERS),
        make_instrument("BUSDT", tiers=TIERS, contract_size=10.0),
        make_instrument("CUSD", "inverse", "BTC", TIERS, contract_size=100.0),
    ]


def random_stream(rng: random.Random, count: int) -> list[Event | Rejection]:
    prices, events, ts = dict(PRICES), [], 0
    for _ in range(count):
        ts += rng.randint(0, 3)
        pick = rng.random()
        symbol = rng.choice(list(PRICES))
        if pick < 0.25:
            step = rng.gauss(0.0, 0.002) if rng.random() < 0.9 else rng.uniform(-0.1, 0.1)
            prices[symbol] *= 1.0 + step
            raw = mark(symbol, prices[symbol], ts)
        elif pick < 0.45:
            asset = "BTC" if symbol == "CUSD" else "USDT"
            wallet = rng.uniform(-20.0, 400.0) * (0.0002 if asset == "BTC" else 1.0)
            raw = balance(f"a{rng.randint(0, 5)}", asset, wallet, ts, seq=rng.randint(0, 400))
        else:
            raw = random_position(rng, symbol, prices[symbol], ts)
        events.append(parse_event(raw))
    return events


def random_position(rng: random.Random, symbol: str, price: float, ts: int) -> dict[str, Any]:
    side = rng.choice(("both", "both", "long", "short"))
    size = rng.choice((0.0, 1.0, 2.0, 3.0, 8.0)) if rng.random() < 0.15 else rng.uniform(1, 9)
    if side == "short" or (side == "both" and rng.random() < 0.5):
        size = -size
    extra: dict[str, Any] = {"position_side": side, "seq": rng.choice((None, rng.randint(0, 400)))}
    if rng.random() < 0.25:
        extra.update(mode="isolated", margin=rng.uniform(0.0, 0.2) * abs(size) * price)
    if rng.random() < 0.02:
        symbol = "NOPE"
    entry = price * rng.uniform(0.9, 1.1)
    return position(f"a{rng.randint(0, 5)}", symbol, size, entry, ts, **extra)


def applied_in_batches(
    engine: Engine, events: list[Event | Rejection], rng: random.Random
) -> list[BatchOutcome]:
    results, start = [], 0
    while start < len(events):
        size = rng.choice((1, 2, 7, 50, 300))
        results.append(engine.apply_batch(EventBatch.from_events(events[start : start + size])))
        start += size
        assert_addresses_current(engine)
    return results


def assert_addresses_current(engine: Engine) -> None:
    """The addresses compiled code reads are the book's columns as they are now."""
    columns, lengths, table = engine.book_addresses()
    fresh = addresses(engine.margin, MARGIN_COLUMNS) + addresses(engine.positions, POSITION_COLUMNS)
    assert columns.tolist() == fresh
    assert lengths.tolist() == [len(engine.margin), len(engine.positions.symbol)]
    for code, block in enumerate(engine.blocks):
        assert table[code].tolist() == [*addresses(block, BLOCK_COLUMNS), len(block)]


def state(engine: Engine) -> tuple[Any, ...]:
    margin = engine.margin
    return (
        [engine.account_view(index) for index in engine.tracked_accounts()],
        engine.level_counts(),
        engine.replay_time,
        float_view(margin.equity).tobytes(),
        float_view(margin.maintenance).tobytes(),
        float_view(margin.wallet).tobytes(),
        [bytes(block.pnl) + bytes(block.band_low) for block in engine.blocks],
    )


@pytest.mark.parametrize(("seed", "horizon"), [(1, None), (2, None), (3, 40), (4, 9)])
def test_batches_equal_one_event_at_a_time(seed: int, horizon: int | None) -> None:
    rng = random.Random(seed)
    events = random_stream(rng, 3_000)
    retention = None if horizon is None else Retention(horizon)
    single = Engine(instruments(), retention=retention)
    batched = CountingEngine(instruments(), retention=retention)
    expected = [single.apply(event) for event in events]
    results = applied_in_batches(batched, events, rng)
    outcomes = [outcome for result in results for outcome in result.outcomes()]
    assert outcomes == expected
    assert sum(bool(outcome.transitions) for outcome in expected) > 20
    compiled = sum(int(result.compiled.sum()) for result in results)
    assert compiled == len(events) - batched.one_by_one
    assert state(batched) == state(single)
    if horizon is None or horizon > 10:  # a 9 ms horizon forgets most positions between events
        updates = sum(isinstance(event, (PositionEvent, BalanceEvent)) for event in events)
        assert batched.one_by_one < len(events) - updates // 2, "the compiled path barely ran"


def test_counts_and_reasons_of_a_batch() -> None:
    engine = Engine(instruments())
    events = [
        parse_event(balance("a", "USDT", 100.0, 1, seq=5)),
        parse_event(position("a", "AUSDT", 1.0, 100.0, 2)),
        parse_event(balance("a", "USDT", 90.0, 3, seq=4)),  # stale by seq
        parse_event(position("a", "NOPE", 1.0, 100.0, 4)),
        parse_event({"type": "mark", "symbol": "AUSDT", "price": -1, "ts": 5}),
        parse_event(balance("a", "USDT", 80.0, 6, seq=6)),
    ]
    result = engine.apply_batch(EventBatch.from_events(events))
    assert result.counts() == {"accepted": 3, "rejected": 2, "stale": 1}
    assert result.reasons == {3: "unknown symbol", 4: "non-positive price"}
    assert np.array_equal(result.status, [0, 0, 2, 1, 1, 0])
    # new identities, the unknown symbol and the rejection take the per-event path
    assert result.compiled.tolist() == [False, False, True, False, False, True]
    assert engine.margin.wallet[engine.cross_accounts[next(iter(engine.cross_accounts))]] == 80.0
