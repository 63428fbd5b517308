"""The timestamp merge and the input buffers (streams/inputs.py)."""

from __future__ import annotations

from streams.inputs import WAIT, BroadcastLog, Head, OwnSource, earliest, order_of
from streams.inputs import MemoryRecord as Record


def head(record: Record, kind: str) -> Head:
    return Head(order_of(record, kind), record, kind)


def test_the_earliest_timestamp_goes_first_and_ties_break_by_type() -> None:
    mark = head(Record("m", 0, 5, 100), "mark")
    position = head(Record("p", 0, 1, 100), "position")
    later = head(Record("b", 0, 9, 99), "balance")
    assert earliest([mark, position, later], []) is later
    assert earliest([position, mark], []) is mark  # same ms: the price before the account
    instrument = head(Record("i", 0, 0, 100), "instrument")
    assert earliest([mark, instrument], []) is instrument


def test_a_source_that_may_hold_more_makes_everyone_wait() -> None:
    mark = head(Record("m", 0, 5, 100), "mark")
    assert earliest([mark], [None]) == WAIT
    assert earliest([], [None]) == WAIT


def test_a_drained_source_vouches_only_up_to_its_horizon() -> None:
    mark = head(Record("m", 0, 5, 100), "mark")
    assert earliest([mark], [99]) == WAIT  # its next record could still be at 99.5
    assert earliest([mark], [100]) is mark
    assert earliest([mark], [150, 120]) is mark
    assert earliest([mark], [150, 60]) == WAIT
    assert earliest([], [10]) is None


def test_own_source_skips_what_it_has_passed() -> None:
    source = OwnSource("p", next_offset=3)
    source.extend([Record("p", 0, offset, offset) for offset in range(6)])
    assert [record.offset for record in source.records] == [3, 4, 5]
    assert source.take().offset == 3
    assert source.next_offset == 4


def test_broadcast_log_serves_every_cursor_and_trims() -> None:
    log = BroadcastLog()
    key = ("m", 0)
    log.extend(key, [Record("m", 0, offset, offset) for offset in (0, 1, 4, 5)])  # a gap
    log.extend(key, [Record("m", 0, 5, 5), Record("m", 0, 6, 6)])  # a re-fetch overlaps
    assert [log.head(key, cursor).offset for cursor in (0, 2, 5, 6)] == [0, 4, 5, 6]  # type: ignore[union-attr]
    assert log.head(key, 7) is None
    log.trim(key, 5)
    assert log.head(key, 0).offset == 5  # type: ignore[union-attr]
    log.drop(key)
    assert log.head(key, 0) is None
