"""Input validation: every reject reason of docs/ENGINE.md and the field check order (SPEC §9)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk import parse_event
from risk.events import (
    REASONS,
    BalanceEvent,
    DepthEvent,
    FundEvent,
    InstrumentEvent,
    MarkEvent,
    PositionEvent,
    Rejection,
)
from streams.codec import decode_event
from tests.reference_input import RefusedError, as_name
from tests.risk.builders import accepted, definition, make_engine, make_instrument, send

INSTRUMENT = {"type": "instrument", "symbol": "X", "kind": "linear", "settle": "USDT"}
MARK = {"type": "mark", "symbol": "X", "price": 5, "ts": 1}
POSITION = {
    "type": "position",
    "account": "a",
    "symbol": "X",
    "size": 1,
    "entry_price": 10,
    "ts": 1,
}
BALANCE = {"type": "balance", "account": "a", "asset": "USDT", "wallet": 100, "ts": 1}
FUND = {"type": "fund", "asset": "USDT", "balance": 100, "ts": 1}
DEPTH = {"type": "depth", "symbol": "X", "bids": [[2, 1], [1, 1]], "asks": [[3, 1]], "ts": 1}
ISOLATED = {**POSITION, "mode": "isolated", "margin": 5}


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (INSTRUMENT, InstrumentEvent),
        (MARK, MarkEvent),
        (POSITION, PositionEvent),
        (BALANCE, BalanceEvent),
        (FUND, FundEvent),
        (DEPTH, DepthEvent),
    ],
)
def test_valid_events_parse(event: dict[str, Any], kind: type) -> None:
    assert isinstance(parse_event(event), kind)
    assert isinstance(parse_event({**event, "extra": [1, {"x": None}]}), kind)  # ignored


REQUIRED = [
    (INSTRUMENT, ("symbol", "kind", "settle")),
    (MARK, ("symbol", "price", "ts")),
    (POSITION, ("account", "symbol", "size", "entry_price", "ts")),
    (BALANCE, ("account", "asset", "wallet", "ts")),
    (FUND, ("asset", "balance", "ts")),
    (DEPTH, ("symbol", "bids", "asks", "ts")),
]


@pytest.mark.parametrize(
    ("event", "field"), [(event, field) for event, fields in REQUIRED for field in fields]
)
def test_missing_field_absent_or_null(event: dict[str, Any], field: str) -> None:
    absent = {key: value for key, value in event.items() if key != field}
    assert parse_event(absent) == Rejection(f"missing {field}")
    assert parse_event({**event, field: None}) == Rejection(f"missing {field}")


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ([1], "not a JSON object"),
        ("mark", "not a JSON object"),
        (None, "not a JSON object"),
        ({"symbol": "X"}, "missing type"),
        ({**MARK, "type": None}, "missing type"),
        ({"type": "trade"}, "unknown type"),
        ({"type": 7}, "unknown type"),
        ({"type": "Mark"}, "unknown type"),
        ({**POSITION, "account": ""}, "invalid account"),
        ({**POSITION, "account": "a/b"}, "invalid account"),
        ({**POSITION, "account": 3}, "invalid account"),
        ({**INSTRUMENT, "settle": "US/DT"}, "invalid settle"),
        ({**BALANCE, "asset": ""}, "invalid asset"),
        ({**POSITION, "size": "1,5"}, "invalid size"),
        ({**POSITION, "size": "0x10"}, "invalid size"),
        ({**POSITION, "size": [1]}, "invalid size"),
        ({**MARK, "price": ""}, "invalid price"),
        ({**INSTRUMENT, "kind": "swap"}, "invalid kind"),
        ({**POSITION, "mode": "portfolio"}, "invalid mode"),
        ({**POSITION, "position_side": "up"}, "invalid position_side"),
        ({**POSITION, "seq": -1}, "invalid seq"),
        ({**POSITION, "seq": 2**63}, "invalid seq"),
        ({**POSITION, "seq": 1.5}, "invalid seq"),
        ({**MARK, "ts": -1}, "invalid ts"),
        ({**MARK, "ts": 1.5}, "invalid ts"),
        ({**MARK, "ts": "1.5"}, "invalid ts"),
        ({**POSITION, "size": "NaN"}, "non-finite size"),
        ({**POSITION, "size": "-inf"}, "non-finite size"),
        ({**POSITION, "size": float("inf")}, "non-finite size"),
        ({**POSITION, "size": 10**400}, "non-finite size"),
        ({**MARK, "price": float("nan")}, "non-finite price"),
        ({**BALANCE, "wallet": "Infinity"}, "non-finite wallet"),
        ({**MARK, "price": 0}, "non-positive price"),
        ({**MARK, "price": "-2"}, "non-positive price"),
        ({**POSITION, "entry_price": 0}, "non-positive entry_price"),
        ({**POSITION, "entry_price": -10}, "non-positive entry_price"),
        ({**INSTRUMENT, "contract_size": 0}, "non-positive contract_size"),
        ({**ISOLATED, "margin": -1}, "negative margin"),
        ({**FUND, "balance": -5}, "negative balance"),
        ({**POSITION, "mode": "isolated"}, "isolated position without margin"),
        ({**POSITION, "mode": "isolated", "margin": None}, "isolated position without margin"),
        ({**POSITION, "position_side": "short"}, "size sign contradicts position_side"),
        ({**POSITION, "size": -1, "position_side": "long"}, "size sign contradicts position_side"),
        ({**INSTRUMENT, "tiers": []}, "invalid tiers: empty"),
        ({**DEPTH, "bids": "none"}, "invalid bids"),
        ({**DEPTH, "bids": [[1, 1], [2, 1]]}, "invalid bids"),  # not descending
        ({**DEPTH, "bids": [[2, 1], [2, 1]]}, "invalid bids"),  # not strictly descending
        ({**DEPTH, "bids": [[2, 1, 0]]}, "invalid bids"),
        ({**DEPTH, "bids": [[0, 1]]}, "invalid bids"),
        ({**DEPTH, "bids": [["x", 1]]}, "invalid bids"),
        ({**DEPTH, "asks": [[3, 0]]}, "invalid asks"),
        ({**DEPTH, "asks": [[3, 1], [3, 1]]}, "invalid asks"),  # not strictly ascending
        ({**DEPTH, "asks": [[4, 1], [3, 1]]}, "invalid asks"),
        ({**DEPTH, "asks": [3, 1]}, "invalid asks"),
    ],
)
def test_reject_reason(event: Any, reason: str) -> None:
    assert parse_event(event) == Rejection(reason)
    assert reason in REASONS  # a label value the metrics expose from 0


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{oops", "invalid json"),
        (b"\xff\xfe", "invalid json"),
        (b"[" * 100_000, "invalid json"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"type": "mark", "symbol": "X", "price": NaN, "ts": 1}', "non-finite price"),
        (b'{"type": "mark", "symbol": "X", "price": -Infinity, "ts": 1}', "non-finite price"),
        (b'{"type": "mark", "symbol": "X", "price": 1, "ts": 1' + b"0" * 30 + b"}", "invalid ts"),
    ],
)
def test_reject_reason_of_raw_bytes(raw: bytes, reason: str) -> None:
    assert decode_event(raw) == Rejection(reason)
    assert reason in REASONS  # a label value the metrics expose from 0


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({**MARK, "symbol": "Q"}, "unknown symbol"),
        ({**POSITION, "symbol": "Q"}, "unknown symbol"),
        ({**DEPTH, "symbol": "Q"}, "unknown symbol"),
        # The event's own fields come before what needs state.
        ({**MARK, "symbol": "Q", "price": 0}, "non-positive price"),
        ({**POSITION, "symbol": "Q", "mode": "isolated"}, "isolated position without margin"),
        ({**DEPTH, "symbol": "Q", "asks": [[1, -1]]}, "invalid asks"),
    ],
)
def test_reject_reasons_that_need_state(event: dict[str, Any], reason: str) -> None:
    outcome = send(make_engine(make_instrument("X")), event)
    assert (outcome.status, outcome.reason) == ("rejected", reason)
    assert reason in REASONS  # a label value the metrics expose from 0


def test_kind_or_settle_change() -> None:
    engine = make_engine(make_instrument("X"))
    accepted(engine, POSITION)
    outcome = send(engine, definition("X", settle="USDC"))
    assert outcome.reason == "instrument kind or settle change"


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({**INSTRUMENT, "symbol": None, "kind": "swap"}, "missing symbol"),
        ({**INSTRUMENT, "kind": "swap", "settle": None}, "invalid kind"),
        ({**INSTRUMENT, "settle": "", "contract_size": 0}, "invalid settle"),
        ({**INSTRUMENT, "contract_size": 0, "tiers": []}, "non-positive contract_size"),
        ({**INSTRUMENT, "tiers": [], "beta": "x"}, "invalid tiers: empty"),
        ({**MARK, "symbol": None, "price": 0}, "missing symbol"),
        ({**MARK, "price": "NaN", "ts": None}, "non-finite price"),
        ({**POSITION, "account": 3, "symbol": None}, "invalid account"),
        ({**POSITION, "symbol": "", "size": "x"}, "invalid symbol"),
        ({**POSITION, "size": "x", "entry_price": -1}, "invalid size"),
        ({**POSITION, "entry_price": 0, "mode": "portfolio"}, "non-positive entry_price"),
        ({**POSITION, "mode": "portfolio", "margin": -1}, "invalid mode"),
        ({**ISOLATED, "margin": None, "position_side": "up"}, "isolated position without margin"),
        ({**ISOLATED, "margin": -1, "position_side": "up"}, "negative margin"),
        ({**POSITION, "position_side": "up", "seq": -1}, "invalid position_side"),
        ({**POSITION, "position_side": "short", "seq": -1}, "size sign contradicts position_side"),
        ({**POSITION, "seq": -1, "ts": None}, "invalid seq"),
        ({**BALANCE, "account": None, "asset": None}, "missing account"),
        ({**BALANCE, "asset": "", "wallet": None}, "invalid asset"),
        ({**BALANCE, "wallet": True, "seq": -1}, "invalid wallet"),
        ({**BALANCE, "seq": -1, "ts": None}, "invalid seq"),
        ({**FUND, "asset": None, "balance": -1}, "missing asset"),
        ({**FUND, "balance": -1, "ts": None}, "negative balance"),
        ({**DEPTH, "symbol": "", "bids": None}, "invalid symbol"),
        ({**DEPTH, "bids": "x", "asks": "x"}, "invalid bids"),
        ({**DEPTH, "asks": "x", "ts": None}, "invalid asks"),
    ],
)
def test_the_first_problem_in_field_order_wins(event: dict[str, Any], reason: str) -> None:
    assert parse_event(event) == Rejection(reason)
    assert reason in REASONS  # a label value the metrics expose from 0


def test_decimal_strings_are_numbers() -> None:
    parsed = parse_event(
        {
            **POSITION,
            "size": "-0.25",
            "entry_price": "6.5e4",
            "mode": "isolated",
            "margin": ".5",
            "position_side": "short",
            "seq": "3",
            "ts": "17",
        }
    )
    assert parsed == PositionEvent("a", "X", -0.25, 65000.0, "isolated", 0.5, "short", 3, 17)
    assert parse_event({**MARK, "price": "65000.5"}) == MarkEvent("X", 65000.5, 1)
    assert parse_event({**BALANCE, "wallet": "-1E3"}) == BalanceEvent("a", "USDT", -1000.0, None, 1)
    instrument = parse_event({**INSTRUMENT, "contract_size": "100", "beta": "1.5"})
    assert isinstance(instrument, InstrumentEvent)
    assert (instrument.instrument.contract_size, instrument.instrument.beta) == (100.0, 1.5)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({**MARK, "price": True}, "invalid price"),
        ({**MARK, "ts": True}, "invalid ts"),
        ({**POSITION, "size": False}, "invalid size"),
        ({**POSITION, "entry_price": True}, "invalid entry_price"),
        ({**POSITION, "seq": True}, "invalid seq"),
        ({**ISOLATED, "margin": True}, "invalid margin"),
        ({**BALANCE, "wallet": False}, "invalid wallet"),
        ({**FUND, "balance": True}, "invalid balance"),
        ({**INSTRUMENT, "contract_size": True}, "invalid contract_size"),
        ({**INSTRUMENT, "beta": True}, "invalid beta"),
        ({**INSTRUMENT, "tiers": [{"mmr": True}]}, "invalid tiers: not a number"),
        ({**DEPTH, "bids": [[True, 1]]}, "invalid bids"),
        ({**POSITION, "account": True}, "invalid account"),
    ],
)
def test_booleans_are_not_numbers(event: dict[str, Any], reason: str) -> None:
    assert parse_event(event) == Rejection(reason)
    assert reason in REASONS  # a label value the metrics expose from 0


@pytest.mark.parametrize("ts", [0, 12.0, "17", 2.0**53, 2**63 - 1])
def test_accepted_timestamps(ts: object) -> None:
    parsed = parse_event({**MARK, "ts": ts})
    assert isinstance(parsed, MarkEvent)
    assert parsed.ts == int(ts)  # type: ignore[call-overload]


@pytest.mark.parametrize("field", ["ts", "seq"])
@pytest.mark.parametrize("value", [2**63, 2.0**53 + 2, "12.0", "+12", "-1", "", "²", "¹²"])
def test_rejected_integers(field: str, value: object) -> None:
    # ENGINE.md: integers in [0, 2^63 - 1]; an integral float up to 2^53 or a digit string.
    # "²" is not a digit string of a number: it must be refused, not raise.
    assert parse_event({**POSITION, field: value}) == Rejection(f"invalid {field}")


@pytest.mark.parametrize("entry_price", [None, 0, "0.0"])
def test_a_close_needs_no_positive_entry_price(entry_price: object) -> None:
    # ENGINE.md: `non-positive entry_price` only when size != 0 (venues send 0 on a close).
    parsed = parse_event({**POSITION, "size": 0, "entry_price": entry_price})
    assert isinstance(parsed, PositionEvent)
    assert parsed.size == 0.0


def test_an_isolated_close_needs_no_margin() -> None:
    parsed = parse_event({**POSITION, "size": 0, "mode": "isolated"})
    assert isinstance(parsed, PositionEvent)
    assert (parsed.mode, parsed.margin) == ("isolated", None)


def test_topic_implies_the_type_and_a_contradicting_type_is_refused() -> None:
    body = {key: value for key, value in MARK.items() if key != "type"}
    assert parse_event(body, topic_type="mark") == MarkEvent("X", 5.0, 1)
    assert parse_event({**body, "type": "mark"}, topic_type="mark") == MarkEvent("X", 5.0, 1)
    assert parse_event({**body, "type": "fund"}, topic_type="mark") == Rejection(
        "type contradicts topic"
    )
    assert parse_event({**body, "type": 5}, topic_type="mark") == Rejection(
        "type contradicts topic"
    )
    assert parse_event(body) == Rejection("missing type")  # a replay line needs `type`


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({**POSITION, "margin": -1}, "negative margin"),  # ENGINE.md: a margin in any mode
        ({**POSITION, "size": 0, "mode": "isolated", "margin": -0.5}, "negative margin"),
        ({**INSTRUMENT, "beta": "nan"}, "non-finite beta"),
        ({**MARK, "price": "1e400"}, "non-finite price"),  # an overflowing decimal string
        ({**MARK, "price": "-0"}, "non-positive price"),
        ({**FUND, "balance": "-1e-300"}, "negative balance"),
    ],
)
def test_more_reject_reasons(event: dict[str, Any], reason: str) -> None:
    assert parse_event(event) == Rejection(reason)
    assert reason in REASONS  # a label value the metrics expose from 0


@pytest.mark.parametrize("text", ["1e-3", "65000.5", "5.", ".5", "+2", "-1E3", "7"])
def test_plain_decimal_and_exponent_strings_are_numbers(text: str) -> None:
    parsed = parse_event({**BALANCE, "wallet": text})
    assert isinstance(parsed, BalanceEvent)
    assert parsed.wallet == float(text)


@pytest.mark.parametrize(
    "text",
    ["\uff11\uff12", "\u0663", "1_000", "0x10", "1e", "e3", "--1", "1.2.3", " 5", "5 ", "\t5"],
)
def test_number_strings_must_be_plain_ascii_decimal(text: str) -> None:
    """ENGINE.md: a number is a JSON number or a string in plain decimal or exponent notation.
    Full-width (U+FF11 U+FF12, "12") and Arabic-Indic (U+0663, "3") digits and blanks are not
    that notation, though Python's float() reads them."""
    assert parse_event({**MARK, "price": text}) == Rejection("invalid price")


@pytest.mark.parametrize("field", ["ts", "seq"])
@pytest.mark.parametrize("text", [" 17", "17\n"])
def test_integer_strings_are_ascii_digits_only(field: str, text: str) -> None:
    """ENGINE.md: `ts` and `seq` accept "a string of ASCII digits"; a blank is not a digit."""
    assert parse_event({**POSITION, field: text}) == Rejection(f"invalid {field}")


@pytest.mark.parametrize(
    ("name", "accepted_as_id"),
    [
        ("a" * 128, True),
        ("a" * 129, False),  # SPEC §13: at most 128 bytes of UTF-8
        ("\u00e9" * 64, True),  # 2 bytes each
        ("\u00e9" * 65, False),
        ("\u65e5\u672c" * 21, True),  # 3 bytes each: 126
        ("\u65e5\u672c" * 22, False),
        ("a b", True),
        ("a\tb", False),  # no control characters: C0, DEL, C1
        ("a\x00", False),
        ("a\x7f", False),
        ("a\u0085", False),
        ("\ud800", False),  # a lone surrogate is no UTF-8 text
    ],
)
def test_identifiers_are_bounded_and_printable(name: str, accepted_as_id: bool) -> None:
    for event, field in ((POSITION, "account"), (MARK, "symbol"), (BALANCE, "asset")):
        parsed = parse_event({**event, field: name})
        assert isinstance(parsed, Rejection) is not accepted_as_id, (field, name)
        if not accepted_as_id:
            assert parsed == Rejection(f"invalid {field}")


def test_a_depth_side_has_at_most_5000_levels() -> None:
    bids = [[10_000.0 - level, 1.0] for level in range(5000)]
    asks = [[10_001.0 + level, 1.0] for level in range(5001)]
    assert isinstance(parse_event({**DEPTH, "bids": bids, "asks": asks[:5000]}), DepthEvent)
    assert parse_event({**DEPTH, "bids": [*bids, [1.0, 1.0]]}) == Rejection("invalid bids")
    assert parse_event({**DEPTH, "asks": asks}) == Rejection("invalid asks")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=140))
def test_the_reference_bounds_identifiers_as_the_engine_does(name: str) -> None:
    engine_side = not isinstance(parse_event({**POSITION, "account": name}), Rejection)
    try:
        as_name({"account": name}, "account")
        reference_side = True
    except RefusedError:
        reference_side = False
    assert engine_side == reference_side, repr(name)
