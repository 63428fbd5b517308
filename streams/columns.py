"""JSON lines decoded straight into columns (`risk.batch.EventBatch`): no event object per line.

Each line is decoded by orjson (`streams.codec.decode_json`). A mark, position or balance whose
fields are plain JSON values (identifiers, finite numbers, integers in range, known choices)
goes into the columns as it is; the checks are `risk.fields`' own fast forms, so such a line
gives exactly the values `parse_event` would. Every other line (decimal strings, a missing or
bad field, another type) goes through `parse_event`, which alone decides reasons and
conversions, and its result is added to the batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, Final

from risk.batch import BALANCE, MARK, MODE_CODES, POSITION, SIDE_CODES, EventBatch
from risk.book import NO_SEQ
from risk.events import Rejection, parse_event
from risk.fields import is_identifier, plain_integer, plain_number
from streams.codec import decode_json

_LONG, _SHORT = SIDE_CODES["long"], SIDE_CODES["short"]
_ISOLATED = MODE_CODES["isolated"]


def decode_lines(lines: Iterable[bytes | str], topic_type: str | None = None) -> EventBatch:
    """One batch row per line, in order (`topic_type` as in `parse_event`)."""
    batch = EventBatch()
    for line in lines:
        add_line(batch, line, topic_type)
    return batch


def add_line(batch: EventBatch, line: bytes | str, topic_type: str | None = None) -> None:
    """Decode one line into the next row of `batch`."""
    value = decode_json(line)
    if isinstance(value, Rejection):
        batch.add(value)
        return
    if type(value) is dict:
        event_type = value.get("type") if topic_type is None else topic_type
        fast = _FAST.get(event_type) if type(event_type) is str else None
        if fast is not None and value.get("type", event_type) == event_type and fast(batch, value):
            return
    batch.add(parse_event(value, topic_type))


def _name(value: dict[str, Any], field: str) -> str | None:
    item = value.get(field)
    return item if type(item) is str and is_identifier(item) else None


def _mark(batch: EventBatch, value: dict[str, Any]) -> bool:
    symbol, price, ts = _name(value, "symbol"), plain_number(value.get("price")), value.get("ts")
    ts = plain_integer(ts)
    if symbol is None or price is None or price <= 0.0 or ts is None:
        return False
    batch.add_row((MARK, "", symbol, price, 0.0, math.nan), (0, 0, None, ts))
    return True


def _balance(batch: EventBatch, value: dict[str, Any]) -> bool:
    account, asset = _name(value, "account"), _name(value, "asset")
    wallet, ts = plain_number(value.get("wallet")), plain_integer(value.get("ts"))
    seq = _sequence(value)
    if account is None or asset is None or wallet is None or ts is None or seq is None:
        return False
    batch.add_row((BALANCE, account, asset, wallet, 0.0, math.nan), (0, 0, seq, ts))
    return True


def _position(batch: EventBatch, value: dict[str, Any]) -> bool:
    account, symbol = _name(value, "account"), _name(value, "symbol")
    size, ts, seq = (
        plain_number(value.get("size")),
        plain_integer(value.get("ts")),
        _sequence(value),
    )
    if account is None or symbol is None or size is None or ts is None or seq is None:
        return False
    entry = 0.0 if size == 0.0 else plain_number(value.get("entry_price"))
    mode, side = _code(value.get("mode"), MODE_CODES), _code(value.get("position_side"), SIDE_CODES)
    if entry is None or (size != 0.0 and entry <= 0.0) or mode is None or side is None:
        return False
    if (side == _LONG and size < 0.0) or (side == _SHORT and size > 0.0):
        return False
    margin = value.get("margin")
    if margin is None:
        if mode == _ISOLATED and size != 0.0:
            return False
        margin = math.nan
    else:
        margin = plain_number(margin)
        if margin is None or margin < 0.0:
            return False
    batch.add_row((POSITION, account, symbol, size, entry, margin), (mode, side, seq, ts))
    return True


def _sequence(value: dict[str, Any]) -> int | None:
    """The seq, NO_SEQ when absent, None when `parse_event` must decide."""
    item = value.get("seq")
    return NO_SEQ if item is None else plain_integer(item)


def _code(item: object, codes: dict[str, int]) -> int | None:
    """The code of a choice (absent: the first), None when `parse_event` must decide."""
    if item is None:
        return 0
    return codes.get(item) if type(item) is str else None


_FAST: Final[dict[str, Callable[[EventBatch, dict[str, Any]], bool]]] = {
    "mark": _mark,
    "position": _position,
    "balance": _balance,
}
