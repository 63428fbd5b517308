"""JSON codecs: bytes in, events or rejections out; records in, compact JSON out."""

from __future__ import annotations

import json
from typing import Any

from risk.events import INVALID_JSON, Event, Rejection, parse_event


def decode_event(raw: bytes | str, topic_type: str | None = None) -> Event | Rejection:
    """Decode one message or replay line; malformed JSON or UTF-8 is `invalid json`."""
    try:
        value = json.loads(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return Rejection(INVALID_JSON)
    except RecursionError:
        return Rejection(INVALID_JSON)
    return parse_event(value, topic_type)


def encode_record(record: dict[str, Any]) -> str:
    """Compact, deterministic JSON; NaN or Infinity here is a bug, so it raises."""
    return json.dumps(record, separators=(",", ":"), allow_nan=False)
