"""`riskmon publish`: a replay file onto the input topics, keyed as SPEC §3 says.

Each line goes to the topic of its `type`, keyed by symbol, account or asset, stamped with
the wall clock. With `--interval-ms N` (N >= 1) each line waits for the previous one's
acknowledgement and the stamps strictly increase, so the workers' merge restores the file's
order exactly (docs/STREAMS.md); without it lines go as fast as the producer batches them, and
lines of different topics within one millisecond are merged by type.

A line that names no usable type (not JSON, not an object, no or an unknown `type`) has no
topic: it goes to the dead-letter topic at once, with the reason, the file and the line number
in headers, so nothing in the file is lost.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aiokafka import AIOKafkaProducer

from risk.events import EVENT_TYPES, MISSING_TYPE, NOT_AN_OBJECT, UNKNOWN_TYPE, Rejection
from streams.codec import decode_json
from streams.kafka.client import client_options, ensure_topics, translated
from streams.settings import Settings

KEY_FIELDS: Final = {
    "instrument": "symbol",
    "mark": "symbol",
    "position": "account",
    "balance": "account",
    "fund": "asset",
    "depth": "symbol",
}


@dataclass(frozen=True)
class Routed:
    """Where one line goes: a topic and key, or the dead-letter topic with a reason."""

    topic: str
    key: bytes | None
    reason: str | None = None


@dataclass
class PublishReport:
    by_topic: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0


def route(line: bytes, settings: Settings) -> Routed:
    """The topic and key of one line (SPEC §3), or the dead-letter topic and why."""
    value = decode_json(line)
    if isinstance(value, Rejection):
        return Routed(settings.topics.dlq, None, value.reason)
    if not isinstance(value, dict):
        return Routed(settings.topics.dlq, None, NOT_AN_OBJECT)
    event_type = value.get("type")
    if event_type is None:
        return Routed(settings.topics.dlq, None, MISSING_TYPE)
    if event_type not in EVENT_TYPES:
        return Routed(settings.topics.dlq, None, UNKNOWN_TYPE)
    key = value.get(KEY_FIELDS[event_type])
    topic = settings.topics.by_type()[event_type]
    return Routed(topic, key.encode() if isinstance(key, str) else None)


class Clock:
    """Message timestamps: the wall clock in milliseconds, never going back.

    `strict` makes them strictly increasing, so the workers' merge restores the file's order
    exactly. Only a paced publish may ask for it: lines sent faster than one a millisecond
    would be stamped ahead of the clock, and workers pace themselves to the clock (a record
    stamped in the future waits until no earlier one can still arrive).
    """

    def __init__(self, *, strict: bool) -> None:
        self.last = 0
        self.step = 1 if strict else 0

    def next(self) -> int:
        self.last = max(time.time_ns() // 1_000_000, self.last + self.step)
        return self.last


async def publish_lines(
    lines: Iterable[bytes], source: str, settings: Settings, interval_ms: int
) -> PublishReport:
    """Publish every non-blank line; with `interval_ms`, one at a time, acknowledged, spaced."""
    producer = AIOKafkaProducer(**client_options(settings), enable_idempotence=True, acks="all")
    await translated(settings, producer.start())
    report, clock = PublishReport(), Clock(strict=interval_ms > 0)
    pending: list[asyncio.Future[object]] = []
    try:
        for number, raw in enumerate(lines, start=1):
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            routed = route(line, settings)
            headers = []
            if routed.reason is not None:
                headers = [
                    ("reason", routed.reason.encode()),
                    ("source", source.encode()),
                    ("line", str(number).encode()),
                ]
                report.dead_letters += 1
            else:
                report.by_topic[routed.topic] += 1
            sending = producer.send(
                routed.topic, value=line, key=routed.key, timestamp_ms=clock.next(), headers=headers
            )
            future = await translated(settings, sending)
            if interval_ms:
                await translated(settings, future)
                await asyncio.sleep(interval_ms / 1000)
            else:
                pending.append(future)
        await translated(settings, asyncio.gather(*pending))
    finally:
        await producer.stop()
    return report


async def publish_file(path: Path, settings: Settings, interval_ms: int) -> PublishReport:
    """Create missing topics (as a worker would) and publish the file."""
    with path.open("rb") as lines:
        await ensure_topics(settings)
        return await publish_lines(lines, str(path), settings, interval_ms)
