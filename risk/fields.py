"""Field-level parsing shared by every input: numbers, integers, identifiers.

Each helper either returns a clean Python value or raises `FieldError` with one reason from the
bounded set of docs/ENGINE.md.
"""

from __future__ import annotations

import math
import re
from typing import Final

_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE: Final = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_DIGITS: Final = re.compile(r"[0-9]+")
LARGEST_INTEGER: Final = 2**63 - 1  # stored as int64
LARGEST_EXACT_FLOAT: Final = 2.0**53
LARGEST_EXACT_INTEGER: Final = 2**53
MAX_IDENTIFIER_BYTES: Final = 128  # SPEC §13, in UTF-8
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode's Cc: C0, DEL, C1


class FieldError(Exception):
    """An input value the engine refuses; `reason` is one of docs/ENGINE.md's reasons."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def number(item: object, field: str) -> float:
    """A finite float from a JSON number or a decimal string (booleans are not numbers)."""
    if isinstance(item, float):
        result = item
    elif isinstance(item, int) and not isinstance(item, bool):
        try:
            result = float(item)
        except OverflowError:
            raise FieldError(f"non-finite {field}") from None
    elif isinstance(item, str):
        result = _decimal_string(item, field)
    else:
        raise FieldError(f"invalid {field}")
    if not math.isfinite(result):
        raise FieldError(f"non-finite {field}")
    return result


def _decimal_string(text: str, field: str) -> float:
    if _DECIMAL.fullmatch(text):
        return float(text)
    if _NON_FINITE.fullmatch(text):
        raise FieldError(f"non-finite {field}")
    raise FieldError(f"invalid {field}")


def integer(item: object, field: str) -> int:
    """A non-negative integer (ms timestamps, sequence numbers) that fits int64.

    An integral JSON float is accepted up to 2**53, where floats stop being exact.
    """
    if isinstance(item, int) and not isinstance(item, bool):
        result = item
    elif (isinstance(item, float) and item.is_integer() and abs(item) <= LARGEST_EXACT_FLOAT) or (
        isinstance(item, str) and _DIGITS.fullmatch(item)
    ):
        result = int(item)
    else:
        raise FieldError(f"invalid {field}")
    if not 0 <= result <= LARGEST_INTEGER:
        raise FieldError(f"invalid {field}")
    return result


def identifier(item: object, field: str) -> str:
    """A non-empty string without '/' (margin account ids are built from identifiers), at most
    128 bytes of UTF-8, without control characters (SPEC §13)."""
    if item is None:
        raise FieldError(f"missing {field}")
    if not isinstance(item, str) or not is_identifier(item):
        raise FieldError(f"invalid {field}")
    return item


# -- the decoders' fast path: what they may accept without `parse_event` --------------------------


def is_identifier(item: str) -> bool:
    """The rule `identifier` applies to a string."""
    if not item or "/" in item:
        return False
    if item.isascii():  # the usual id: its length is its size, and printable is no control
        return len(item) <= MAX_IDENTIFIER_BYTES and item.isprintable()
    try:
        size = len(item.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate (a JSON escape) is no UTF-8 text
        return False
    return size <= MAX_IDENTIFIER_BYTES and _CONTROL.search(item) is None


def plain_number(item: object) -> float | None:
    """`number` of a JSON float or int that is finite and exact as a float; None for every
    other value (decimal strings, booleans, huge integers: `number` decides those)."""
    if type(item) is float:
        return item if math.isfinite(item) else None
    if type(item) is int and -LARGEST_EXACT_INTEGER <= item <= LARGEST_EXACT_INTEGER:
        return float(item)
    return None


def plain_integer(item: object) -> int | None:
    """`integer` of a JSON int in range; None for every other value (`integer` decides)."""
    if type(item) is int and 0 <= item <= LARGEST_INTEGER:
        return item
    return None
