"""The task's timestamp merge one record at a time: the oracle `streams.kafka.inputs.merge_order`
must agree with (the worker's merge as it was before rounds were ordered in arrays)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from streams.kafka.inputs import RANKS, Record, Slot


class Head(NamedTuple):
    order: tuple[int, int, str, int, int]
    slot: int
    at: int


def order_of(record: Record, event_type: str) -> tuple[int, int, str, int, int]:
    return (record.timestamp, RANKS[event_type], record.topic, record.partition, record.offset)


def sequential_merge(slots: Sequence[Slot], budget: int) -> list[tuple[int, int]]:
    """Take the earliest head again and again; stop when a drained slot (nothing left
    buffered) has no horizon or a horizon before the head's timestamp, or at `budget`."""
    taken: list[tuple[int, int]] = []
    cursors = [0] * len(slots)
    while len(taken) < budget:
        heads = [
            Head(order_of(slot.records[cursor], slot.event_type), at, cursor)
            for at, (slot, cursor) in enumerate(zip(slots, cursors, strict=True))
            if cursor < len(slot.records)
        ]
        drained = [
            slot.horizon
            for slot, cursor in zip(slots, cursors, strict=True)
            if cursor >= len(slot.records)
        ]
        if not heads or any(horizon is None for horizon in drained):
            break
        chosen = min(heads)
        if drained and chosen.order[0] > min(h for h in drained if h is not None):
            break
        taken.append((chosen.slot, chosen.at))
        cursors[chosen.slot] += 1
    return taken
