"""A checkpoint's accounts loaded in bulk equal the per-event path's, column for column.

`Engine.load_accounts` (risk/engine/loading.py) must leave exactly the book that applying the
same last events one by one (nothing forgotten) leaves: the same slots for names, margin
accounts and position ids, the same links, values, totals to the last bit, tombstones and
reference counts. Checked on random streams of test_bulk (cross, isolated, hedged, closes,
unknown symbols, seqs) and of the stream generator, for a fresh engine and for a shard
admitted back into a sharded engine whose free lists hold slots; then both engines take the
rest of the stream and must write the same records.
"""

from __future__ import annotations

import random
from array import array
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk import Engine
from risk.batch import EventBatch
from risk.checkpoint import ACCOUNT_KINDS, StateKey, state_key
from risk.engine import ACCEPTED
from risk.engine.load_plan import LoadError
from risk.events import BalanceEvent, Event, PositionEvent, Rejection
from risk.retention import Retention
from risk.sharding import Sharding
from streams.codec import decode_event, encode_record
from tests.risk.test_bulk import instruments, random_stream
from tests.risk.test_checkpoint import stream_instruments
from tests.risk.test_sharding import SHARDS, shard_of, sharded_stream
from tests.streamgen import generate_stream

# A restore sets levels, counts and replay time after the load, and its sweep clears
# `unreferenced` (names that may hold nothing: per-event sweeps may clear it sooner).
UNSET = ("margin.level", "margin.transitions", "unreferenced", "replay_times", "next_sweep")


def book_state(engine: Engine, *, leave: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every column and table of the book, arrays as bytes (floats to the last bit); not the
    columns in `leave`, nor the counters of appends (`generation`)."""
    state: dict[str, Any] = {}
    for part in ("margin", "positions"):
        columns = getattr(engine, part)
        for name in columns.__slots__:
            if name == "generation" or f"{part}.{name}" in leave:
                continue
            value = getattr(columns, name)
            state[f"{part}.{name}"] = value.tobytes() if isinstance(value, array) else value
    for code, block in enumerate(engine.blocks):
        for name in ("size", "entry", "pnl", "maintenance", "tier", "account", "pid"):
            state[f"block{code}.{name}"] = getattr(block, name).tobytes()
        for name in ("band_low", "band_high"):
            state[f"block{code}.{name}"] = getattr(block, name).tobytes()
    for name in (
        "account_names",
        "accounts_by_name",
        "asset_names",
        "cross_accounts",
        "isolated_accounts",
        "tombstones",
        "account_refs",
        "unreferenced",
        "free_names",
        "carried_counts",
        "next_sweep",
        "replay_times",
    ):
        if name not in leave:
            state[name] = getattr(engine, name)
    state["account_shards"] = engine.account_shards.tobytes()
    return state


def account_batch(events: list[Event]) -> EventBatch:
    """The balance and position events as a batch, balances first (as a restore orders)."""
    ordered = [e for kind in ACCOUNT_KINDS for e in events if state_key(e)[0] == kind]
    return EventBatch.from_events(ordered)


def one_by_one(engine: Engine, events: list[Event]) -> None:
    """The per-event path: balances, then positions, nothing forgotten."""
    batch = account_batch(events)
    with engine.remembering_everything():
        for row in range(len(batch)):
            engine.apply(batch.event(row))


def last_events(engine: Engine, events: list[Event | Rejection]) -> dict[StateKey, Event]:
    latest: dict[StateKey, Event] = {}
    for event in events:
        if engine.apply(event).status == ACCEPTED and not isinstance(event, Rejection):
            latest[state_key(event)] = event
    return latest


def broadcasts(latest: dict[StateKey, Event]) -> list[Event]:
    return [e for key, e in latest.items() if key[0] not in ACCOUNT_KINDS]


def records(engine: Engine, events: list[Event | Rejection]) -> list[str]:
    return [
        encode_record(transition.as_record())
        for event in events
        for transition in engine.apply(event).transitions
    ]


def random_events(seed: int, *, generator: bool) -> tuple[list[Event | Rejection], list[Any]]:
    """600 events of the stream generator, or of test_bulk's random stream, and the
    instruments they are on."""
    if generator:
        lines, _ = generate_stream(seed, 600)
        return [decode_event(line) for line in lines if line.strip()], stream_instruments()
    return random_stream(random.Random(seed), 600), instruments()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), split=st.floats(0.1, 0.9), generator=st.booleans())
def test_a_bulk_load_equals_the_events_one_by_one(seed: int, split: float, generator: bool) -> None:
    events, definitions = random_events(seed, generator=generator)
    cut = int(len(events) * split)
    original = Engine(definitions)
    latest = last_events(original, events[:cut])
    accounts = [e for key, e in latest.items() if key[0] in ACCOUNT_KINDS]
    slow, fast = Engine(definitions), Engine(definitions)
    for engine in (slow, fast):
        engine.apply_events(broadcasts(latest))
    one_by_one(slow, accounts)
    fast.load_accounts(account_batch(accounts))
    assert book_state(fast, leave=UNSET) == book_state(slow, leave=UNSET)
    levels = original.shard_levels(0)
    for engine in (slow, fast):
        engine.restore_levels(levels, original.replay_time)
    assert book_state(fast) == book_state(slow)
    assert records(fast, events[cut:]) == records(slow, events[cut:])
    assert book_state(fast) == book_state(slow)


@pytest.mark.parametrize(("seed", "moved"), [(31, 0), (32, 1), (33, 2)])
def test_a_shard_loaded_back_takes_the_free_slots_the_events_would(seed: int, moved: int) -> None:
    """A shard dropped from a sharded engine leaves free names, margin accounts and position
    ids; loading it back takes them in the order the per-event path takes them."""
    events = sharded_stream(seed, 3_000)
    half = len(events) // 2
    engines = [
        Engine(instruments(), retention=Retention(40), sharding=Sharding(SHARDS, shard_of))
        for _ in range(2)
    ]
    latest: dict[StateKey, Event] = {}
    for event in events[:half]:
        outcomes = [engine.apply(event) for engine in engines]
        if (
            isinstance(event, PositionEvent | BalanceEvent)
            and outcomes[0].status == ACCEPTED
            and shard_of(event.account) == moved
        ):
            latest[state_key(event)] = event
    slow, fast = engines
    levels, clock = slow.shard_levels(moved), slow.replay_times[moved]
    for engine in engines:
        engine.drop_shard(moved)
    assert slow.margin.free
    assert slow.positions.free
    one_by_one(slow, list(latest.values()))
    fast.load_accounts(account_batch(list(latest.values())), shard=moved)  # no name hashed
    assert book_state(fast, leave=UNSET) == book_state(slow, leave=UNSET)
    for engine in engines:
        engine.restore_shard(moved, levels, clock)
    assert book_state(fast) == book_state(slow)
    assert records(fast, events[half:]) == records(slow, events[half:])


def test_an_account_already_held_or_an_identity_given_twice_is_refused() -> None:
    engine = Engine(instruments())
    engine.apply(BalanceEvent("a1", "USDT", 100.0, None, 1))
    before = book_state(engine)
    held = [BalanceEvent("a9", "USDT", 1, None, 1), BalanceEvent("a1", "USDT", 5.0, None, 2)]
    with pytest.raises(LoadError, match="account 'a1' is already held"):
        engine.load_accounts(EventBatch.from_events(held))
    assert book_state(engine) == before  # refused before anything changed
    symbol = next(iter(engine.symbols))
    position = PositionEvent("a3", symbol, 1.0, 100.0, "cross", None, "both", None, 3)
    closed = PositionEvent("a3", symbol, 0.0, 100.0, "isolated", None, "both", None, 4)
    twice: list[tuple[list[Event], str]] = [
        ([BalanceEvent("a2", "USDT", 5.0, None, 2)] * 2, "balance a2/USDT given twice"),
        ([position, closed], f"position a3/{symbol}/both given twice"),
    ]
    for events, message in twice:
        with pytest.raises(LoadError, match=message):
            Engine(instruments()).load_accounts(EventBatch.from_events(events))


def views(engine: Engine) -> list[Any]:
    return [engine.account_view(index).as_record() for index in engine.tracked_accounts()]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), split=st.floats(0.1, 0.9), generator=st.booleans())
def test_accounts_read_out_of_the_book_rebuild_them(
    seed: int, split: float, generator: bool
) -> None:
    """`account_rows` of an engine, loaded into a fresh one with the broadcasts, levels and
    replay time, gives an engine that goes on exactly as the original."""
    events, definitions = random_events(seed, generator=generator)
    cut = int(len(events) * split)
    original = Engine(definitions)
    latest = last_events(original, events[:cut])
    rebuilt = Engine(definitions)
    rebuilt.apply_events(broadcasts(latest))
    with rebuilt.remembering_everything():
        rebuilt.load_accounts(original.account_rows(0))
    rebuilt.restore_levels(original.shard_levels(0), original.replay_time)
    assert views(rebuilt) == views(original)
    assert records(rebuilt, events[cut:]) == records(original, events[cut:])
    assert views(rebuilt) == views(original)


@pytest.mark.parametrize(("seed", "moved"), [(41, 0), (42, 1), (43, 2)])
def test_a_shard_read_out_and_loaded_into_another_engine_goes_on_as_there(
    seed: int, moved: int
) -> None:
    """A caught-up partition moves from its own engine into the served one this way."""
    events = sharded_stream(seed, 3_000)
    half = len(events) // 2
    engines = [
        Engine(instruments(), retention=Retention(40), sharding=Sharding(SHARDS, shard_of))
        for _ in range(2)
    ]
    for event in events[:half]:
        for engine in engines:
            engine.apply(event)
    source, target = engines
    target.drop_shard(moved)
    with target.remembering_everything():
        target.load_accounts(source.account_rows(moved), shard=moved)
    target.restore_shard(moved, source.shard_levels(moved), source.replay_times[moved])
    assert views(target) == views(source)
    assert records(target, events[half:]) == records(source, events[half:])
    assert views(target) == views(source)
