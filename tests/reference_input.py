"""The input side of the slow scalar reference (tests/reference.py): reading and checking
events, instruments and tier tables the way SPEC §3 and §9 say, standard library only."""

from __future__ import annotations

import bisect
import math
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LEVELS = ("safe", "watch", "margin_call", "liquidation", "bankrupt")
SIDE_ORDER = {"both": 0, "long": 1, "short": 2}
DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


class RefusedError(Exception):
    """A rejected event; the message is the reason."""


@dataclass
class ReferenceConfig:
    watch: float = 0.5
    margin_call: float = 0.8
    liquidation: float = 1.0
    hysteresis: float = 0.05
    instruments: list[dict[str, Any]] = field(default_factory=list)
    horizon_ms: int = 24 * 3_600_000


def load_reference_config(path: Path) -> ReferenceConfig:
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    hours = document.get("retention", {}).get("horizon_hours", 24)
    return ReferenceConfig(
        **document.get("levels", {}),
        instruments=document["instruments"],
        horizon_ms=round(hours * 3_600_000),
    )


# -- field parsing ------------------------------------------------------------------------------


def require(event: dict[str, Any], name: str) -> Any:
    if event.get(name) is None:
        raise RefusedError(f"missing {name}")
    return event[name]


def as_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RefusedError(f"invalid {name}")
    if isinstance(value, str):
        text = value
        if NON_FINITE.fullmatch(text):
            raise RefusedError(f"non-finite {name}")
        if not DECIMAL.fullmatch(text):
            raise RefusedError(f"invalid {name}")
        value = text
    try:
        result = float(value)
    except OverflowError:
        raise RefusedError(f"non-finite {name}") from None
    if math.isnan(result) or math.isinf(result):
        raise RefusedError(f"non-finite {name}")
    return result


def as_integer(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise RefusedError(f"invalid {name}")
    if (isinstance(value, float) and value.is_integer() and abs(value) <= 2.0**53) or (
        isinstance(value, str) and re.fullmatch(r"[0-9]+", value)
    ):
        value = int(value)
    if not isinstance(value, int) or value < 0 or value > 2**63 - 1:
        raise RefusedError(f"invalid {name}")
    return value


def as_name(event: dict[str, Any], name: str) -> str:
    """Non-empty, no '/', at most 128 bytes of UTF-8, no character of Unicode's Cc class."""
    value = require(event, name)
    if not isinstance(value, str) or value == "" or "/" in value:
        raise RefusedError(f"invalid {name}")
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        raise RefusedError(f"invalid {name}") from None
    if len(encoded) > 128 or any(unicodedata.category(char) == "Cc" for char in value):
        raise RefusedError(f"invalid {name}")
    return value


def optional_integer(event: dict[str, Any], name: str) -> int | None:
    return None if event.get(name) is None else as_integer(event[name], name)


def positive(event: dict[str, Any], name: str) -> float:
    value = as_number(require(event, name), name)
    if value <= 0:
        raise RefusedError(f"non-positive {name}")
    return value


def choice(event: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = event.get(name)
    if value is None:
        return allowed[0]
    if not isinstance(value, str) or value not in allowed:
        raise RefusedError(f"invalid {name}")
    return value


# -- instruments --------------------------------------------------------------------------------


def tier_number(value: Any) -> float:
    try:
        return as_number(value, "tiers")
    except RefusedError:
        raise RefusedError("invalid tiers: not a number") from None


def parse_tiers(raw: Any) -> tuple[list[float], list[float], list[float]]:
    """(caps, mmrs, cums) of SPEC §3; cum_k = cum_{k-1} + cap_{k-1} * (mmr_k - mmr_{k-1})."""
    if raw is None:
        return [], [0.005], [0.0]
    if not isinstance(raw, list):
        raise RefusedError("invalid tiers: not a list")
    if not raw:
        raise RefusedError("invalid tiers: empty")
    if len(raw) > 1000:
        raise RefusedError("invalid tiers: more than 1000 tiers")
    caps: list[float] = []
    mmrs: list[float] = []
    given: list[float | None] = []
    for position, tier in enumerate(raw):
        if not isinstance(tier, dict):
            raise RefusedError("invalid tiers: tier is not an object")
        read_cap(tier, position == len(raw) - 1, caps)
        read_mmr(tier, mmrs)
        given.append(None if tier.get("cum") is None else tier_number(tier["cum"]))
    cums = [0.0]
    for k in range(1, len(mmrs)):
        cums.append(cums[k - 1] + caps[k - 1] * (mmrs[k] - mmrs[k - 1]))
    for stated, derived in zip(given, cums, strict=True):
        if stated is not None and abs(stated - derived) > 1e-9 * max(1.0, abs(derived)):
            raise RefusedError("invalid tiers: cum inconsistent")
    return caps, mmrs, cums


def read_cap(tier: dict[str, Any], last: bool, caps: list[float]) -> None:
    if last:
        if tier.get("cap") is not None:
            raise RefusedError("invalid tiers: cap on last tier")
        return
    if tier.get("cap") is None:
        raise RefusedError("invalid tiers: missing cap")
    cap = tier_number(tier["cap"])
    if cap <= 0:
        raise RefusedError("invalid tiers: cap must be positive")
    if caps and cap <= caps[-1]:
        raise RefusedError("invalid tiers: caps must increase")
    caps.append(cap)


def read_mmr(tier: dict[str, Any], mmrs: list[float]) -> None:
    if tier.get("mmr") is None:
        raise RefusedError("invalid tiers: missing mmr")
    mmr = tier_number(tier["mmr"])
    if not 0 < mmr < 1:
        raise RefusedError("invalid tiers: mmr must be in (0, 1)")
    if mmrs and mmr < mmrs[-1]:
        raise RefusedError("invalid tiers: mmr must not decrease")
    mmrs.append(mmr)


def parse_instrument(event: dict[str, Any]) -> dict[str, Any]:
    symbol = as_name(event, "symbol")
    kind = require(event, "kind")
    if kind not in ("linear", "inverse"):
        raise RefusedError("invalid kind")
    settle = as_name(event, "settle")
    size = 1.0 if event.get("contract_size") is None else positive(event, "contract_size")
    caps, mmrs, cums = parse_tiers(event.get("tiers"))
    beta = 1.0 if event.get("beta") is None else as_number(event["beta"], "beta")
    return {
        "symbol": symbol,
        "kind": kind,
        "settle": settle,
        "cs": size,
        "caps": caps,
        "mmrs": mmrs,
        "cums": cums,
        "beta": beta,
    }


def maintenance_of(instrument: dict[str, Any], notional: float) -> float:
    k = bisect.bisect_left(instrument["caps"], notional)
    rate: float = instrument["mmrs"][k]
    amount: float = instrument["cums"][k]
    return notional * rate - amount


# -- the reference replay -----------------------------------------------------------------------


def book_side(levels: Any, name: str, *, descending: bool) -> None:
    if not isinstance(levels, list) or len(levels) > 5000:
        raise RefusedError(f"invalid {name}")
    previous = None
    for level in levels:
        if not isinstance(level, list) or len(level) != 2:
            raise RefusedError(f"invalid {name}")
        try:
            price, size = (as_number(part, name) for part in level)
        except RefusedError:
            raise RefusedError(f"invalid {name}") from None
        if price <= 0 or size <= 0:
            raise RefusedError(f"invalid {name}")
        if previous is not None and (price >= previous if descending else price <= previous):
            raise RefusedError(f"invalid {name}")
        previous = price


def older(seq: int | None, ts: int, last_seq: int | None, last_ts: int) -> bool:
    if seq is not None and last_seq is not None:
        return seq < last_seq
    return ts < last_ts
