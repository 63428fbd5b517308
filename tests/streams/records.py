"""A stand-in for aiokafka's ConsumerRecord in in-memory tests of the worker's parts."""

from __future__ import annotations

from typing import NamedTuple


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None = None
    value: bytes | None = None
