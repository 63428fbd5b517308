"""The timestamp merge and the input buffers (streams/kafka/inputs.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.kafka.inputs import BroadcastLog, OwnSource, Slot, capped, merge_order
from streams.kafka.inputs import MemoryRecord as Record
from tests.streams.merge_reference import sequential_merge


def slot(kind: str, stamps: list[int], horizon: int | None = 10**9, partition: int = 0) -> Slot:
    topic = kind[0]
    records = [Record(topic, partition, offset, ts) for offset, ts in enumerate(stamps)]
    return Slot(kind, topic, partition, records, horizon)


def test_the_earliest_timestamp_goes_first_and_ties_break_by_type() -> None:
    slots = [slot("mark", [100]), slot("position", [100]), slot("balance", [99])]
    assert merge_order(slots, 10) == [(2, 0), (0, 0), (1, 0)]  # the price before the account
    slots = [slot("mark", [100]), slot("instrument", [100])]
    assert merge_order(slots, 10) == [(1, 0), (0, 0)]


def test_a_source_that_may_hold_more_makes_everyone_wait() -> None:
    assert merge_order([slot("mark", [100]), slot("position", [], None)], 10) == []
    assert merge_order([slot("position", [], None)], 10) == []


def test_a_drained_source_vouches_only_up_to_its_horizon() -> None:
    def taken(*horizons: int) -> int:
        drained = [slot("position", [], horizon, partition) for partition, horizon in
                   enumerate(horizons)]  # fmt: skip
        return len(merge_order([slot("mark", [100]), *drained], 10))

    assert taken(99) == 0  # its next record could still be at 99.5
    assert taken(100) == 1
    assert taken(150, 120) == 1
    assert taken(150, 60) == 0
    assert merge_order([slot("mark", [], 10)], 10) == []


def test_a_record_behind_a_later_one_of_its_partition_waits_for_it() -> None:
    slots = [slot("position", [5, 3]), slot("balance", [4])]
    assert merge_order(slots, 10) == [(1, 0), (0, 0), (0, 1)]
    assert merge_order(slots, 2) == [(1, 0), (0, 0)]
    # the balance partition drained at 4.5: the position at 5 (and the 3 behind it) wait
    assert merge_order([slot("position", [5, 3]), slot("balance", [4], 4)], 10) == [(1, 0)]


KINDS = ("instrument", "mark", "balance", "position")


def sources_of(records: int) -> st.SearchStrategy[list[tuple[str, list[int], int | None]]]:
    """Up to 6 sources: a type, up to `records` stamps, a horizon or None."""
    return st.lists(
        st.tuples(
            st.sampled_from(KINDS),
            st.lists(st.integers(0, 30), max_size=records),
            st.one_of(st.none(), st.integers(0, 35)),
        ),
        max_size=6,
    )


@settings(max_examples=300, deadline=None)
@given(
    sources_of(8),
    st.integers(0, 40),
)
def test_merge_in_arrays_equals_the_merge_one_record_at_a_time(
    sources: list[tuple[str, list[int], int | None]], budget: int
) -> None:
    slots = [
        slot(kind, stamps, horizon, partition)
        for partition, (kind, stamps, horizon) in enumerate(sources)
    ]
    assert merge_order(slots, budget) == sequential_merge(slots, budget)


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
    assert [log.since(key, cursor, 1)[0].offset for cursor in (0, 2, 5, 6)] == [0, 4, 5, 6]
    assert [record.offset for record in log.since(key, 2, 2)] == [4, 5]
    assert log.since(key, 7, 1) == []
    log.trim(key, 5)
    assert log.since(key, 0, 1)[0].offset == 5
    log.drop(key)
    assert log.since(key, 0, 1) == []


@settings(max_examples=300, deadline=None)
@given(
    sources_of(12),
    st.integers(1, 5),
    st.integers(1, 40),
)
def test_merges_of_capped_sources_take_the_records_in_the_uncapped_order(
    sources: list[tuple[str, list[int], int | None]], cap: int, budget: int
) -> None:
    """Merging at most `cap` records a source, again and again, takes what one merge of every
    record takes, in its order: a source cut short vouches only for what precedes its cut."""
    slots = [
        slot(kind, stamps, horizon, partition)
        for partition, (kind, stamps, horizon) in enumerate(sources)
    ]
    expected = merge_order(slots, 10**6)
    cursors, taken = [0] * len(slots), []
    while True:
        offered = [
            capped(Slot(s.event_type, s.topic, s.partition, s.records[at:], s.horizon), cap)
            for s, at in zip(slots, cursors, strict=True)
        ]
        chosen = merge_order(offered, budget)
        if not chosen:
            break
        taken += [(which, cursors[which] + index) for which, index in chosen]
        for which, _ in chosen:
            cursors[which] += 1
    assert taken == expected
