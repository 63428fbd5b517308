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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray

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


@dataclass(frozen=True)
class Slot:
    """One source of a task's merge: its type and partition, the records it has buffered (in
    offset order), and what its consumer vouches for once they are taken: the Kafka
    timestamp up to which nothing else exists, or None when it may hold an earlier record."""

    event_type: str
    topic: str
    partition: int
    records: Sequence[Record]
    horizon: int | None


def capped(slot: Slot, cap: int) -> Slot:
    """`slot` with at most `cap` records. Cut short, it vouches for what comes before its
    first record left out: an input stamped at or after that record's time waits for it."""
    if len(slot.records) <= cap:
        return slot
    following = slot.records[cap].timestamp
    return Slot(slot.event_type, slot.topic, slot.partition, slot.records[:cap], following - 1)


@dataclass
class OwnSource:
    """Partition p of an account topic: a FIFO of fetched records and the next offset."""

    topic: str
    next_offset: int
    records: deque[Record] = field(default_factory=deque)

    def extend(self, records: Sequence[Record]) -> None:
        self.records.extend(record for record in records if record.offset >= self.next_offset)

    def take(self) -> Record:
        record = self.records.popleft()
        self.next_offset = record.offset + 1
        return record


class BroadcastLog:
    """Fetched records of every broadcast partition, from the lowest task cursor on."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, int], list[Record]] = {}
        self.offsets: dict[tuple[str, int], list[int]] = {}

    def extend(self, key: tuple[str, int], records: Sequence[Record]) -> None:
        kept, offsets = self.records.setdefault(key, []), self.offsets.setdefault(key, [])
        last = offsets[-1] if offsets else -1
        for record in records:
            if record.offset > last:
                kept.append(record)
                offsets.append(record.offset)
                last = record.offset

    def since(self, key: tuple[str, int], cursor: int, limit: int) -> list[Record]:
        """At most `limit` records from offset `cursor` on."""
        offsets = self.offsets.get(key)
        if not offsets:
            return []
        index = bisect_left(offsets, cursor)
        return self.records[key][index : index + limit]

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


def merge_order(slots: Sequence[Slot], budget: int) -> list[tuple[int, int]]:
    """(slot, index in its records) of what can be taken now, in merge order, at most `budget`.

    The merge takes, again and again, the earliest head of the slots by (timestamp, source
    rank, topic, partition, offset); each slot's records go in their own order. That is a
    sort of every record by the running maximum of its slot's keys (a record behind a later
    one waits for it), computed here in arrays. It stops before the first record a drained
    slot (all its buffered records taken) could still precede: every record, if that slot's
    horizon is None, else a record stamped after its horizon.
    """
    lengths = np.array([len(slot.records) for slot in slots], dtype=np.int64)
    total = int(lengths.sum())
    if total == 0 or budget <= 0:
        return []
    stamps = np.fromiter(
        (record.timestamp for slot in slots for record in slot.records), np.int64, total
    )
    which = np.repeat(np.arange(len(slots)), lengths)
    starts = np.cumsum(lengths) - lengths
    index = np.arange(total) - starts[which]
    peaks = stamps.copy()
    for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
        np.maximum.accumulate(peaks[start : start + length], out=peaks[start : start + length])
    rank = np.empty(len(slots), dtype=np.int64)
    rank[sorted(range(len(slots)), key=lambda at: _slot_order(slots[at]))] = np.arange(len(slots))
    order = np.lexsort((index, rank[which], peaks))
    cut = min(total, budget, _first_blocked(slots, which[order], stamps[order]))
    chosen = order[:cut]
    return list(zip(which[chosen].tolist(), index[chosen].tolist(), strict=True))


def _slot_order(slot: Slot) -> tuple[int, str, int]:
    return RANKS[slot.event_type], slot.topic, slot.partition


def _first_blocked(
    slots: Sequence[Slot], which: NDArray[np.int64], stamps: NDArray[np.int64]
) -> int:
    """The first merge position a drained slot's horizon does not vouch for."""
    positions = np.arange(len(which))
    ends = np.full(len(slots), -1, dtype=np.int64)
    np.maximum.at(ends, which, positions)
    blocked = len(which)
    for slot, end in zip(slots, ends.tolist(), strict=True):
        after = end + 1
        if after >= blocked:
            continue
        if slot.horizon is None:
            blocked = after
            continue
        late = np.flatnonzero(stamps[after:blocked] > slot.horizon)
        if len(late):
            blocked = after + int(late[0])
    return blocked
