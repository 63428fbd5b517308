"""JSON codecs: bytes in, events or rejections out; records in, compact JSON out."""

from __future__ import annotations

import json
from typing import Any

import orjson

from risk.events import INVALID_JSON, Event, Rejection, parse_event


def decode_event(raw: bytes | str, topic_type: str | None = None) -> Event | Rejection:
    """Decode one message or replay line; malformed JSON or UTF-8 is `invalid json`."""
    value = decode_json(raw)
    return value if isinstance(value, Rejection) else parse_event(value, topic_type)


def decode_json(raw: bytes | str) -> object:
    """The JSON value of `raw`, or `Rejection(invalid json)`.

    orjson decodes the common case fast. What it refuses is decoded again by the standard
    library, which also accepts the NaN and Infinity literals some producers emit, so those are
    rejected as `non-finite FIELD` rather than `invalid json`.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, deep nesting
            return Rejection(INVALID_JSON)


def encode_record(record: dict[str, Any]) -> str:
    """Compact, deterministic JSON; NaN or Infinity here is a bug, so it raises."""
    return json.dumps(record, separators=(",", ":"), allow_nan=False)
