"""An engine rebuilt from a checkpoint continues exactly as the original (risk/checkpoint.py).

A checkpoint is what a worker's changelog holds: the last accepted event of each identity,
each margin account's level and transition count, and replay time. Both engines then take the
rest of the stream and must write identical records, byte for byte, and end in identical
account views.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from risk.checkpoint import StateKey, restore, state_key
from risk.engine import ACCEPTED, Engine
from risk.events import Event, Rejection
from risk.instruments import Instrument
from streams.codec import decode_event, encode_record
from tests.risk.builders import make_instrument
from tests.streamgen import INSTRUMENTS, generate_stream


def stream_instruments() -> list[Instrument]:
    return [make_instrument(**definition) for definition in INSTRUMENTS]


class Checkpointing:
    """An engine plus the checkpoint a worker would keep for it."""

    def __init__(self) -> None:
        self.engine = Engine(stream_instruments())
        self.last_events: dict[StateKey, Event] = {}
        self.levels: dict[str, tuple[str, int]] = {}

    def apply(self, event: Event | Rejection) -> list[str]:
        outcome = self.engine.apply(event)
        if outcome.status == ACCEPTED and not isinstance(event, Rejection):
            self.last_events[state_key(event)] = event
        for transition in outcome.transitions:
            count = int(transition.event_id.rsplit("#", 1)[1])
            self.levels[transition.margin_account] = (transition.to_level, count)
        return [encode_record(transition.as_record()) for transition in outcome.transitions]

    def rebuilt(self) -> Engine:
        engine = Engine(stream_instruments())
        restore(engine, self.last_events.values(), self.levels, self.engine.replay_time)
        return engine


def views(engine: Engine) -> list[dict[str, Any]]:
    return [engine.account_view(account).as_record() for account in engine.tracked_accounts()]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), split=st.floats(0.05, 0.95))
def test_rebuilt_engine_writes_the_same_records(seed: int, split: float) -> None:
    lines, _ = generate_stream(seed, 700)
    events = [decode_event(line) for line in lines if line.strip()]
    cut = int(len(events) * split)
    original = Checkpointing()
    for event in events[:cut]:
        original.apply(event)
    rebuilt = original.rebuilt()
    assert views(rebuilt) == views(original.engine)
    assert rebuilt.level_counts() == original.engine.level_counts()
    for event in events[cut:]:
        expected = original.apply(event)
        outcome = rebuilt.apply(event)
        assert [encode_record(t.as_record()) for t in outcome.transitions] == expected
    assert views(rebuilt) == views(original.engine)


def test_a_reopened_account_continues_its_event_ids_after_a_restore() -> None:
    instrument = INSTRUMENTS[0]
    symbol = str(instrument["symbol"])
    original = Checkpointing()
    stream: list[dict[str, Any]] = [
        {"type": "mark", "symbol": symbol, "price": 50000, "ts": 1},
        {
            "type": "position",
            "account": "a",
            "symbol": symbol,
            "size": 1,
            "entry_price": 50000,
            "mode": "isolated",
            "margin": 600,
            "ts": 2,
        },
        {"type": "mark", "symbol": symbol, "price": 49500, "ts": 3},
        {"type": "position", "account": "a", "symbol": symbol, "size": 0, "ts": 4},
    ]
    records = [
        record for event in stream for record in original.apply(decode_event(encode_record(event)))
    ]
    assert [record.split('"event_id":"')[1].split('"')[0] for record in records] == [
        f"a/isolated/{symbol}#1",
        f"a/isolated/{symbol}#2",
    ]
    rebuilt = original.rebuilt()
    reopen = {
        "type": "position",
        "account": "a",
        "symbol": symbol,
        "size": 1,
        "entry_price": 50000,
        "mode": "isolated",
        "margin": 550,
        "ts": 5,
    }
    outcome = rebuilt.apply(decode_event(encode_record(reopen)))
    assert [t.event_id for t in outcome.transitions] == [f"a/isolated/{symbol}#3"]
    assert original.apply(decode_event(encode_record(reopen))) == [
        encode_record(t.as_record()) for t in outcome.transitions
    ]
