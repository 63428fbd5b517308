"""Number and integer strings are plain ASCII notation (docs/ENGINE.md), in engine and reference.

Python's float() and int() read full-width and Arabic-Indic digits and surrounding blanks; the
engine does not.
"""

from __future__ import annotations

import pytest

from risk.events import Rejection, parse_event
from tests.reference import Reference
from tests.reference_input import ReferenceConfig

MARK = {"type": "mark", "symbol": "X", "price": 1.0, "ts": 1}
X = {"symbol": "X", "kind": "linear", "settle": "USDT"}


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("price", "\uff11\uff12"),
        ("price", "\u0663"),
        ("price", " 12"),
        ("price", "1_000"),
        ("ts", " 17"),
        ("ts", "17\n"),
        ("ts", "\uff11\uff17"),
    ],
)
def test_non_plain_strings_are_invalid_in_engine_and_reference(field: str, text: str) -> None:
    event = {**MARK, field: text}
    assert parse_event(event) == Rejection(f"invalid {field}")
    assert Reference(ReferenceConfig(instruments=[X])).apply(event) == (
        "rejected",
        f"invalid {field}",
        [],
    )


def test_plain_strings_are_accepted() -> None:
    status, _, _ = Reference(ReferenceConfig(instruments=[X])).apply({**MARK, "price": "12.5e0"})
    assert status == "accepted"
    assert parse_event({**MARK, "price": "12.5e0", "ts": "17"}) == parse_event(
        {**MARK, "price": 12.5, "ts": 17}
    )
