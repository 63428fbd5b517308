"""The columnar decoder gives, line for line, the events `decode_event` gives.

Lines mix well-formed marks, positions and balances (the fast path) with every kind of value
a field can hold: decimal strings, booleans, nulls, huge or negative integers, integral and
non-integral floats, bad choices, names with '/', other types and broken JSON (the full path).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.batch import MARK, OTHER, POSITION
from risk.events import REASONS, Rejection
from streams.codec import decode_event
from streams.columns import decode_lines

ANY_VALUE: st.SearchStrategy[Any] = st.sampled_from(
    [None, True, False, 0, 1, -1, 7, 2**53, 2**53 + 1, 2**63, -(2**60), 0.0, -0.0, 1.5, -2.25,
     3.0, 1e300, "1.5", "12", "-3", "nan", "Infinity", "", "x", "a/b", [], {}, [1, 2],
     "cross", "isolated", "both", "long", "short", "BTCUSDT", "USDT"]
)  # fmt: skip
NAMES = st.sampled_from(
    ["a", "b", "BTCUSDT", "USDT", "ETH", "x/y", "", 5, "a" * 128, "a" * 129, "\u00e9" * 64,
     "\u00e9" * 65, "a\x00b", "a\x7f", "a\u0085", "a b", "\u65e5\u672c"]
)  # fmt: skip
NUMBERS = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.integers(-(10**6), 10**6), ANY_VALUE)
FIELDS = {
    "account": NAMES,
    "symbol": NAMES,
    "asset": NAMES,
    "size": NUMBERS,
    "entry_price": NUMBERS,
    "price": NUMBERS,
    "wallet": NUMBERS,
    "margin": NUMBERS,
    "mode": st.sampled_from(["cross", "isolated", "other", None, 1]),
    "position_side": st.sampled_from(["both", "long", "short", "flat", None, 0]),
    "seq": st.one_of(st.integers(0, 10**6), ANY_VALUE),
    "ts": st.one_of(st.integers(0, 10**12), ANY_VALUE),
}
KINDS = st.sampled_from(["mark", "position", "balance", "fund", "nope", None, 3])


VALID = {
    "mark": {"symbol": "S", "price": 10.5, "ts": 3},
    "position": {"account": "a", "symbol": "S", "size": -2.0, "entry_price": 9.5,
                 "mode": "isolated", "margin": 4.0, "position_side": "short", "seq": 7, "ts": 4},
    "balance": {"account": "a", "asset": "USDT", "wallet": 5.0, "seq": 1, "ts": 5},
}  # fmt: skip


@st.composite
def nearly_valid(draw: st.DrawFn) -> str:
    """A valid mark, position or balance with one or two fields changed or dropped."""
    kind = draw(st.sampled_from(sorted(VALID)))
    value: dict[str, Any] = {"type": kind, **VALID[kind]}
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(sorted(FIELDS)))
        if draw(st.booleans()):
            value.pop(name, None)
        else:
            value[name] = draw(FIELDS[name])
    return json.dumps(value)


@st.composite
def lines(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(nearly_valid())
    value: dict[str, Any] = {"type": draw(KINDS)}
    for name, strategy in FIELDS.items():
        if draw(st.integers(0, 5)):  # most fields present
            value[name] = draw(strategy)
    if draw(st.integers(0, 30)) == 0:
        return json.dumps(value)[:-3]  # broken JSON
    if draw(st.integers(0, 30)) == 0:
        return json.dumps([value])
    return json.dumps(value)


@settings(max_examples=600, deadline=None)
@given(st.lists(lines(), min_size=1, max_size=8), st.sampled_from([None, "position", "mark"]))
def test_rows_are_the_events_decode_event_gives(raw: list[str], topic_type: str | None) -> None:
    batch = decode_lines([line.encode() for line in raw], topic_type)
    assert len(batch) == len(raw)
    for row, line in enumerate(raw):
        expected = decode_event(line, topic_type)
        assert batch.event(row) == expected, line
        if isinstance(expected, Rejection):
            assert expected.reason in REASONS, line  # the metrics' label values


def test_plain_lines_take_the_fast_path_and_odd_ones_the_full_path() -> None:
    raw = [
        b'{"type":"mark","symbol":"S","price":10.5,"ts":3}',
        b'{"type":"position","account":"a","symbol":"S","size":-2,"entry_price":9.5,'
        b'"mode":"isolated","margin":4,"position_side":"short","seq":7,"ts":4}',
        b'{"type":"position","account":"a","symbol":"S","size":"1.5","entry_price":9,"ts":5}',
        b'{"type":"balance","account":"a","asset":"USDT","wallet":true,"ts":6}',
    ]
    batch = decode_lines(raw)
    assert batch.kind[:2] == [MARK, POSITION]
    assert batch.value[:2] == [10.5, -2.0]
    assert batch.margin[1] == 4.0
    assert (batch.seq[:2], batch.ts[:2]) == ([-1, 7], [3, 4])
    assert batch.kind[2] == POSITION
    assert batch.value[2] == 1.5
    assert batch.kind[3] == OTHER
    assert batch.event(3) == decode_event(raw[3])
    floats, codes = batch.numbers()
    assert floats.shape == (4, 3)
    assert codes.shape == (4, 5)
    assert math.isnan(floats[0, 2])
    assert np.array_equal(codes[1], [POSITION, 1, 2, 7, 4])
