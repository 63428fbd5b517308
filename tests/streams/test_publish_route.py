"""`riskmon publish` routing: each line to its topic and key, or to the DLQ with a reason."""

from __future__ import annotations

import itertools
import time

import pytest

from streams.kafka.publish import Clock, Routed, route
from streams.settings import Settings

SETTINGS = Settings()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            b'{"type":"mark","symbol":"BTCUSDT","price":1,"ts":1}',
            Routed("riskmon.marks", b"BTCUSDT"),
        ),
        (b'{"type":"position","account":"a1","symbol":"X"}', Routed("riskmon.positions", b"a1")),
        (b'{"type":"balance","account":"a1"}', Routed("riskmon.balances", b"a1")),
        (b'{"type":"instrument","symbol":"X"}', Routed("riskmon.instruments", b"X")),
        (b'{"type":"fund","asset":"USDT"}', Routed("riskmon.fund.balances", b"USDT")),
        (b'{"type":"depth","symbol":"X"}', Routed("riskmon.depth", b"X")),
        (b'{"type":"position","account":7}', Routed("riskmon.positions", None)),
        (b'{"type":"mark","price":NaN}', Routed("riskmon.marks", None)),
        (b"{broken", Routed("riskmon.dlq", None, "invalid json")),
        (b"[1,2]", Routed("riskmon.dlq", None, "not a JSON object")),
        (b'{"symbol":"X"}', Routed("riskmon.dlq", None, "missing type")),
        (b'{"type":"trade"}', Routed("riskmon.dlq", None, "unknown type")),
        (b'{"type":5}', Routed("riskmon.dlq", None, "unknown type")),
    ],
)
def test_route(line: bytes, expected: Routed) -> None:
    assert route(line, SETTINGS) == expected


def test_a_strict_clock_is_strictly_increasing_and_a_plain_one_follows_the_wall() -> None:
    plain = Clock(strict=False)
    before = time.time_ns() // 1_000_000
    stamps = [plain.next() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert stamps == sorted(stamps)
    assert before <= stamps[0] <= stamps[-1] <= after  # never ahead of the clock
    clock = Clock(strict=True)
    stamps = [clock.next() for _ in range(2000)]
    assert all(later > earlier for earlier, later in itertools.pairwise(stamps))
