"""Every reject reason of docs/ENGINE.md, and the order fields are checked in (SPEC §9)."""

from __future__ import annotations

from typing import Any

import pytest

from risk.events import MarkEvent, PositionEvent, Rejection, parse_event
from streams.codec import decode_event

POSITION = {
    "type": "position",
    "account": "a",
    "symbol": "X",
    "size": 1,
    "entry_price": 10,
    "ts": 1,
}


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ([1], "not a JSON object"),
        ({"symbol": "X"}, "missing type"),
        ({"type": "trade"}, "unknown type"),
        ({"type": 7}, "unknown type"),
        ({**POSITION, "account": None}, "missing account"),
        ({**POSITION, "account": ""}, "invalid account"),
        ({**POSITION, "account": "a/b"}, "invalid account"),
        ({**POSITION, "size": True}, "invalid size"),
        ({**POSITION, "size": "1,5"}, "invalid size"),
        ({**POSITION, "size": "NaN"}, "non-finite size"),
        ({**POSITION, "size": float("inf")}, "non-finite size"),
        ({**POSITION, "size": 10**400}, "non-finite size"),
        ({**POSITION, "entry_price": 0}, "non-positive entry_price"),
        ({**POSITION, "entry_price": None}, "missing entry_price"),
        ({**POSITION, "mode": "portfolio"}, "invalid mode"),
        ({**POSITION, "mode": "isolated"}, "isolated position without margin"),
        ({**POSITION, "mode": "isolated", "margin": -1}, "negative margin"),
        ({**POSITION, "position_side": "short"}, "size sign contradicts position_side"),
        ({**POSITION, "seq": -1}, "invalid seq"),
        ({**POSITION, "seq": 2**63}, "invalid seq"),
        ({**POSITION, "ts": 1.5}, "invalid ts"),
        ({**POSITION, "ts": None}, "missing ts"),
        ({"type": "mark", "symbol": "X", "price": -2, "ts": 1}, "non-positive price"),
        ({"type": "balance", "account": "a", "asset": "USDT", "ts": 1}, "missing wallet"),
        ({"type": "fund", "asset": "USDT", "balance": -5, "ts": 1}, "negative balance"),
        ({"type": "instrument", "symbol": "X", "kind": "swap", "settle": "U"}, "invalid kind"),
        (
            {
                "type": "instrument",
                "symbol": "X",
                "kind": "linear",
                "settle": "U",
                "contract_size": 0,
            },
            "non-positive contract_size",
        ),
        (
            {"type": "depth", "symbol": "X", "bids": [[1, 1], [2, 1]], "asks": [], "ts": 1},
            "invalid bids",
        ),
        ({"type": "depth", "symbol": "X", "bids": [], "asks": [[1, 0]], "ts": 1}, "invalid asks"),
        ({"type": "depth", "symbol": "X", "bids": [], "asks": "none", "ts": 1}, "invalid asks"),
    ],
)
def test_reject_reasons(event: Any, reason: str) -> None:
    assert parse_event(event) == Rejection(reason)


def test_first_problem_in_field_order_wins() -> None:
    # account comes before size, size before entry_price, position_side before ts.
    assert parse_event({**POSITION, "account": 3, "size": "x"}) == Rejection("invalid account")
    assert parse_event({**POSITION, "size": "x", "entry_price": -1}) == Rejection("invalid size")
    bad_side_and_ts = {**POSITION, "position_side": "up", "ts": -1}
    assert parse_event(bad_side_and_ts) == Rejection("invalid position_side")


def test_decimal_strings_are_numbers() -> None:
    parsed = parse_event(
        {**POSITION, "size": "-0.25", "entry_price": "6.5e4", "ts": "17", "position_side": "short"}
    )
    assert isinstance(parsed, PositionEvent)
    assert (parsed.size, parsed.entry_price, parsed.ts) == (-0.25, 65000.0, 17)


def test_a_close_needs_no_entry_price() -> None:
    parsed = parse_event({**POSITION, "size": 0, "entry_price": None})
    assert isinstance(parsed, PositionEvent)
    assert parsed.size == 0.0


def test_topic_implies_type_and_a_contradicting_type_is_refused() -> None:
    mark = {"symbol": "X", "price": 5, "ts": 1}
    assert parse_event(mark, topic_type="mark") == MarkEvent("X", 5.0, 1)
    assert parse_event({**mark, "type": "fund"}, topic_type="mark") == Rejection(
        "type contradicts topic"
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{oops", "invalid json"),
        (b"\xff\xfe", "invalid json"),
        (b'{"type": "mark", "symbol": "X", "price": NaN, "ts": 1}', "non-finite price"),
        (b'{"type": "mark", "symbol": "X", "price": -Infinity, "ts": 1}', "non-finite price"),
        (
            b'{"type": "mark", "symbol": "X", "price": 1, "ts": 123456789012345678901234567890}',
            "invalid ts",
        ),
        (b"[" * 100_000, "invalid json"),
    ],
)
def test_codec_reasons(raw: bytes, reason: str) -> None:
    assert decode_event(raw) == Rejection(reason)
