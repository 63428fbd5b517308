"""Input buffering and the timestamp merge that orders a task's inputs (docs/STREAMS.md).

A task (partition p) reads three kinds of source: partition p of the positions and balances
topics, and every partition of the broadcast topics (instruments, marks, fund, depth), which
all tasks share through one `BroadcastLog`. It takes records in order of their Kafka timestamp,
so a task restarted from its checkpoint sees its backlog in the order it would have seen it
live; a paced `riskmon publish` stamps strictly increasing times in file order. Ties break by
source rank, topic, partition and offset, so the order is a function of the data alone.

A drained source holds up the others until its consumer has fetched after their next record's
timestamp plus a grace period (`RISKMON_ORDER_GRACE_MS`): a record produced just before that
fetch may still be on its way to the broker, and taking a later record of another topic first
would be an order a replay of the same events would not see.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field
from typing import Final, NamedTuple, Protocol

# Sources of equal timestamps: definitions before prices before account changes.
RANKS: Final = {"instrument": 0, "mark": 1, "fund": 2, "depth": 3, "balance": 4, "position": 5}


class Record(Protocol):
    """The part of aiokafka's ConsumerRecord the worker reads."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class MemoryRecord(NamedTuple):
    """A `Record` made in memory: what the demo feeds its partition task, and the tests."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None = None
    value: bytes | None = None


class Head(NamedTuple):
    """The next record of one source, with the type its topic implies."""

    order: tuple[int, int, str, int, int]
    record: Record
    event_type: str


WAIT: Final = "wait"  # a source may still receive an earlier record


@dataclass
class OwnSource:
    """Partition p of an account topic: a FIFO of fetched records and the next offset."""

    topic: str
    next_offset: int
    records: deque[Record] = field(default_factory=deque)

    def extend(self, records: list[Record]) -> None:
        self.records.extend(record for record in records if record.offset >= self.next_offset)

    def head(self) -> Record | None:
        return self.records[0] if self.records else None

    def take(self) -> Record:
        record = self.records.popleft()
        self.next_offset = record.offset + 1
        return record


class BroadcastLog:
    """Fetched records of every broadcast partition, from the lowest task cursor on."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, int], list[Record]] = {}
        self.offsets: dict[tuple[str, int], list[int]] = {}

    def extend(self, key: tuple[str, int], records: list[Record]) -> None:
        kept, offsets = self.records.setdefault(key, []), self.offsets.setdefault(key, [])
        last = offsets[-1] if offsets else -1
        for record in records:
            if record.offset > last:
                kept.append(record)
                offsets.append(record.offset)
                last = record.offset

    def head(self, key: tuple[str, int], cursor: int) -> Record | None:
        offsets = self.offsets.get(key)
        if not offsets:
            return None
        index = bisect_left(offsets, cursor)
        return self.records[key][index] if index < len(offsets) else None

    def trim(self, key: tuple[str, int], below: int) -> None:
        """Forget records below offset `below` (every task has passed them)."""
        offsets = self.offsets.get(key)
        if offsets:
            index = bisect_left(offsets, below)
            del offsets[:index]
            del self.records[key][:index]

    def drop(self, key: tuple[str, int]) -> None:
        self.records.pop(key, None)
        self.offsets.pop(key, None)

    def clear(self) -> None:
        self.records.clear()
        self.offsets.clear()


def order_of(record: Record, event_type: str) -> tuple[int, int, str, int, int]:
    return (record.timestamp, RANKS[event_type], record.topic, record.partition, record.offset)


def earliest(heads: list[Head | None], horizons: list[int | None]) -> Head | str | None:
    """The head to take next, or `WAIT`, or None when there is nothing to take.

    `horizons` has one entry per source with nothing buffered: None when its consumer has not
    fetched everything the broker holds (it may hold an earlier record), else the Kafka
    timestamp up to which its last fetch vouches that nothing else exists. The earliest head
    is taken only when no drained source could still receive an earlier record.
    """
    if any(horizon is None for horizon in horizons):
        return WAIT
    present = [head for head in heads if head is not None]
    if not present:
        return None
    chosen = min(present, key=lambda head: head.order)
    if horizons and chosen.order[0] > min(horizon for horizon in horizons if horizon is not None):
        return WAIT
    return chosen
