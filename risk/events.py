"""Typed input events (SPEC §3) and their validation (SPEC §9, docs/ENGINE.md).

`parse_event` turns one decoded JSON value into an immutable event record or a `Rejection`
carrying one reason from a bounded set (the reasons are also a metric label). Fields are checked
in the order SPEC §3 lists them, so an event with several problems always gets the same reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Literal, NamedTuple

from risk.fields import FieldError, identifier, integer, number
from risk.instruments import TIER_PROBLEMS, Instrument, Kind, tier_table

Mode = Literal["cross", "isolated"]
PositionSide = Literal["both", "long", "short"]

EVENT_TYPES: Final = ("instrument", "mark", "position", "balance", "fund", "depth")

INVALID_JSON: Final = "invalid json"
NOT_AN_OBJECT: Final = "not a JSON object"
MISSING_TYPE: Final = "missing type"
UNKNOWN_TYPE: Final = "unknown type"
TYPE_CONTRADICTS_TOPIC: Final = "type contradicts topic"
UNKNOWN_SYMBOL: Final = "unknown symbol"
ISOLATED_WITHOUT_MARGIN: Final = "isolated position without margin"
SIZE_SIGN_CONTRADICTS_SIDE: Final = "size sign contradicts position_side"
KIND_OR_SETTLE_CHANGE: Final = "instrument kind or settle change"
# A worker's own: an account event on a partition its account's key does not map to.
ON_ANOTHER_PARTITION: Final = "account keyed to another partition"

_NUMBERS: Final = ("contract_size", "beta", "price", "size", "entry_price", "margin", "wallet",
                   "balance")  # fmt: skip
_FIELD_CHECKS: Final = {  # which checks each field can fail, as the parsers below apply them
    "missing": ("symbol", "kind", "settle", "price", "ts", "account", "size", "entry_price",
                "asset", "wallet", "balance", "bids", "asks"),
    "invalid": ("symbol", "kind", "settle", "account", "asset", *_NUMBERS, "ts", "seq", "mode",
                "position_side", "bids", "asks"),
    "non-finite": _NUMBERS,
    "non-positive": ("price", "entry_price", "contract_size"),
    "negative": ("margin", "balance"),
}  # fmt: skip
REASONS: Final = (
    INVALID_JSON, NOT_AN_OBJECT, MISSING_TYPE, UNKNOWN_TYPE, TYPE_CONTRADICTS_TOPIC,
    *(f"{check} {field}" for check, fields in _FIELD_CHECKS.items() for field in fields),
    *(f"invalid tiers: {problem}" for problem in TIER_PROBLEMS),
    ISOLATED_WITHOUT_MARGIN, SIZE_SIGN_CONTRADICTS_SIDE, UNKNOWN_SYMBOL, KIND_OR_SETTLE_CHANGE,
    ON_ANOTHER_PARTITION,
)  # fmt: skip  # every reason the engine gives: the metrics' label values, from 0
MAX_DEPTH_LEVELS: Final = 5000  # a depth side's levels (SPEC §13)
_MODES: Final = ("cross", "isolated")
_SIDES: Final = ("both", "long", "short")


class Rejection(NamedTuple):
    """A refused event: `reason` is one of the bounded reasons of docs/ENGINE.md."""

    reason: str


class InstrumentEvent(NamedTuple):
    """A new or replacing instrument definition (no `ts`: it is never stale)."""

    instrument: Instrument


class MarkEvent(NamedTuple):
    symbol: str
    price: float
    ts: int


class PositionEvent(NamedTuple):
    account: str
    symbol: str
    size: float
    entry_price: float  # 0.0 when size == 0 and no entry price was given
    mode: Mode
    margin: float | None
    position_side: PositionSide
    seq: int | None
    ts: int


class BalanceEvent(NamedTuple):
    account: str
    asset: str
    wallet: float
    seq: int | None
    ts: int


class FundEvent(NamedTuple):
    asset: str
    balance: float
    ts: int


class DepthEvent(NamedTuple):
    """An order book snapshot: each side is a tuple of (price, size), best first."""

    symbol: str
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    ts: int


Event = InstrumentEvent | MarkEvent | PositionEvent | BalanceEvent | FundEvent | DepthEvent


def parse_event(value: object, topic_type: str | None = None) -> Event | Rejection:
    """Validate one decoded JSON value.

    `topic_type` is the type implied by a Kafka topic: `type` may then be absent, and a `type`
    that differs is rejected. In a replay file (`topic_type=None`) `type` is required.
    """
    if not isinstance(value, dict):
        return Rejection(NOT_AN_OBJECT)
    event_type = value.get("type")
    if topic_type is not None:
        if event_type is not None and event_type != topic_type:
            return Rejection(TYPE_CONTRADICTS_TOPIC)
        event_type = topic_type
    if event_type is None:
        return Rejection(MISSING_TYPE)
    parser = _PARSERS.get(event_type) if isinstance(event_type, str) else None
    if parser is None:
        return Rejection(UNKNOWN_TYPE)
    try:
        return parser(value)
    except FieldError as error:
        return Rejection(error.reason)


def _present(value: Mapping[str, Any], field: str) -> Any:
    item = value.get(field)
    if item is None:
        raise FieldError(f"missing {field}")
    return item


def _required_number(value: Mapping[str, Any], field: str) -> float:
    return number(_present(value, field), field)


def _positive(value: Mapping[str, Any], field: str) -> float:
    result = _required_number(value, field)
    if result <= 0.0:
        raise FieldError(f"non-positive {field}")
    return result


def _optional_integer(value: Mapping[str, Any], field: str) -> int | None:
    item = value.get(field)
    return None if item is None else integer(item, field)


def _choice(value: Mapping[str, Any], field: str, choices: tuple[str, ...], default: str) -> str:
    item = value.get(field)
    if item is None:
        return default
    if item not in choices:
        raise FieldError(f"invalid {field}")
    return str(item)


def _parse_instrument(value: Mapping[str, Any]) -> InstrumentEvent:
    symbol = identifier(value.get("symbol"), "symbol")
    kind = _present(value, "kind")
    if kind not in ("linear", "inverse"):
        raise FieldError("invalid kind")
    settle = identifier(value.get("settle"), "settle")
    contract_size = 1.0
    if value.get("contract_size") is not None:
        contract_size = _positive(value, "contract_size")
    tiers = tier_table(value.get("tiers"))
    beta = 1.0 if value.get("beta") is None else _required_number(value, "beta")
    kind_name: Kind = "linear" if kind == "linear" else "inverse"
    return InstrumentEvent(Instrument(symbol, kind_name, settle, contract_size, tiers, beta))


def _parse_mark(value: Mapping[str, Any]) -> MarkEvent:
    symbol = identifier(value.get("symbol"), "symbol")
    price = _positive(value, "price")
    return MarkEvent(symbol, price, integer(_present(value, "ts"), "ts"))


def _parse_position(value: Mapping[str, Any]) -> PositionEvent:
    account = identifier(value.get("account"), "account")
    symbol = identifier(value.get("symbol"), "symbol")
    size = _required_number(value, "size")
    entry_price = 0.0 if size == 0.0 else _positive(value, "entry_price")  # closes: ignored
    mode = _choice(value, "mode", _MODES, "cross")
    margin = _position_margin(value, mode, size)
    side = _choice(value, "position_side", _SIDES, "both")
    if (side == "long" and size < 0.0) or (side == "short" and size > 0.0):
        raise FieldError(SIZE_SIGN_CONTRADICTS_SIDE)
    seq = _optional_integer(value, "seq")
    ts = integer(_present(value, "ts"), "ts")
    return PositionEvent(account, symbol, size, entry_price, mode, margin, side, seq, ts)  # type: ignore[arg-type]


def _position_margin(value: Mapping[str, Any], mode: str, size: float) -> float | None:
    item = value.get("margin")
    if item is None:
        if mode == "isolated" and size != 0.0:
            raise FieldError(ISOLATED_WITHOUT_MARGIN)
        return None
    margin = number(item, "margin")
    if margin < 0.0:
        raise FieldError("negative margin")
    return margin


def _parse_balance(value: Mapping[str, Any]) -> BalanceEvent:
    account = identifier(value.get("account"), "account")
    asset = identifier(value.get("asset"), "asset")
    wallet = _required_number(value, "wallet")
    seq = _optional_integer(value, "seq")
    return BalanceEvent(account, asset, wallet, seq, integer(_present(value, "ts"), "ts"))


def _parse_fund(value: Mapping[str, Any]) -> FundEvent:
    asset = identifier(value.get("asset"), "asset")
    balance = _required_number(value, "balance")
    if balance < 0.0:
        raise FieldError("negative balance")
    return FundEvent(asset, balance, integer(_present(value, "ts"), "ts"))


def _parse_depth(value: Mapping[str, Any]) -> DepthEvent:
    symbol = identifier(value.get("symbol"), "symbol")
    bids = _book_side(_present(value, "bids"), "bids", descending=True)
    asks = _book_side(_present(value, "asks"), "asks", descending=False)
    return DepthEvent(symbol, bids, asks, integer(_present(value, "ts"), "ts"))


def _book_side(item: object, field: str, *, descending: bool) -> tuple[tuple[float, float], ...]:
    """Price levels best first: bids strictly descending, asks strictly ascending; at most
    MAX_DEPTH_LEVELS of them."""
    if not isinstance(item, list) or len(item) > MAX_DEPTH_LEVELS:
        raise FieldError(f"invalid {field}")
    levels: list[tuple[float, float]] = []
    for level in item:
        if not isinstance(level, list) or len(level) != 2:
            raise FieldError(f"invalid {field}")
        price, size = (_book_number(part, field) for part in level)
        if levels and (price >= levels[-1][0] if descending else price <= levels[-1][0]):
            raise FieldError(f"invalid {field}")
        levels.append((price, size))
    return tuple(levels)


def _book_number(item: object, field: str) -> float:
    try:
        result = number(item, field)
    except FieldError:
        raise FieldError(f"invalid {field}") from None
    if result <= 0.0:
        raise FieldError(f"invalid {field}")
    return result


_PARSERS: Final[dict[str, Callable[[Mapping[str, Any]], Event]]] = {
    "instrument": _parse_instrument,
    "mark": _parse_mark,
    "position": _parse_position,
    "balance": _parse_balance,
    "fund": _parse_fund,
    "depth": _parse_depth,
}
