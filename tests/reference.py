"""A slow, plain scalar reference of riskmon's replay (SPEC §2-§7, §9, §10; docs/ENGINE.md).

It shares no code with `risk/` or `streams/` and uses only the standard library, so agreement
with the vectorized engine means something. It is deliberately naive:

- state lives in dicts keyed by names; nothing is cached between events;
- after every event each affected margin account's equity and maintenance margin are summed
  again from its positions;
- a liquidation or bankruptcy price is found by splitting v (P for linear, 1/P for inverse) at
  every tier breakpoint of the legs in that symbol, evaluating the from-scratch function
  f(v) = equity(v) - c * maintenance(v) at two points inside each segment and taking the secant
  root (exact: f is linear on a segment), then keeping the root nearest the reference price.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fund_reference import fund_summary

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
    value = require(event, name)
    if not isinstance(value, str) or value == "" or "/" in value:
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


class Reference:
    """All state in dicts; every number recomputed when it is needed."""

    def __init__(self, config: ReferenceConfig) -> None:
        self.config = config
        self.instruments = {item["symbol"]: parse_instrument(item) for item in config.instruments}
        self.marks: dict[str, tuple[float, int]] = {}
        self.positions: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.order_keys: dict[tuple[str, str, str], tuple[int | None, int]] = {}
        self.wallets: dict[tuple[str, str], float] = {}
        self.balance_keys: dict[tuple[str, str], tuple[int | None, int]] = {}
        self.isolated_margin: dict[str, float] = {}
        self.levels: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.funds: dict[str, int] = {}
        self.depth: dict[str, int] = {}
        self.fund_history: dict[str, list[tuple[int, float]]] = {}
        self.books: dict[str, tuple[list[list[float]], list[list[float]]]] = {}
        self.replay_time = 0

    # valuation

    def price_of(self, position: dict[str, Any]) -> float:
        mark = self.marks.get(position["symbol"])
        return position["entry"] if mark is None else mark[0]

    def value(self, position: dict[str, Any], price: float) -> tuple[float, float, float]:
        """(notional, uPnL, maintenance) at `price`, SPEC §4."""
        instrument = self.instruments[position["symbol"]]
        size, entry, cs = position["size"], position["entry"], instrument["cs"]
        if instrument["kind"] == "linear":
            notional, pnl = abs(size) * cs * price, size * cs * (price - entry)
        else:
            notional, pnl = abs(size) * cs / price, size * cs * (1 / entry - 1 / price)
        return notional, pnl, maintenance_of(instrument, notional)

    def members(self, account_id: str) -> list[dict[str, Any]]:
        found = [p for p in self.positions.values() if p["ma"] == account_id]
        return sorted(found, key=lambda p: (p["symbol"], SIDE_ORDER[p["side"]]))

    def wallet(self, account_id: str, members: list[dict[str, Any]]) -> float:
        if "/isolated/" in account_id:
            return self.isolated_margin.get(account_id, 0.0)
        return self.wallets.get((members[0]["account"], members[0]["settle"]), 0.0)

    def money(
        self, account_id: str, moved: str | None = None, price: float = 0.0
    ) -> tuple[float, float]:
        """(equity, maintenance) of the account, with `moved`'s mark at `price` if given."""
        members = self.members(account_id)
        equity, maintenance = self.wallet(account_id, members), 0.0
        for position in members:
            at = price if position["symbol"] == moved else self.price_of(position)
            _, pnl, margin = self.value(position, at)
            equity += pnl
            maintenance += margin
        return equity, maintenance

    # prices

    def solve(self, account_id: str, symbol: str, weight: float, reference: float) -> float | None:
        instrument = self.instruments[symbol]
        inverse = instrument["kind"] == "inverse"
        legs = [p for p in self.members(account_id) if p["symbol"] == symbol]
        cuts = sorted(
            {cap / (abs(p["size"]) * instrument["cs"]) for p in legs for cap in instrument["caps"]}
        )

        def f(v: float) -> float:
            equity, maintenance = self.money(account_id, symbol, 1 / v if inverse else v)
            return equity - weight * maintenance

        roots = []
        bounds = [0.0, *cuts]
        for lower, upper in zip(bounds, [*cuts, math.inf], strict=True):
            if math.isinf(upper):
                base = lower if lower > 0 else (1 / reference if inverse else reference)
                first, second = base * 2, base * 3
            else:
                first, second = lower + (upper - lower) / 3, lower + 2 * (upper - lower) / 3
            low, high = f(first), f(second)
            if low == high:
                continue
            root = first - low * (second - first) / (high - low)
            slack = 1e-9 * abs(root)
            boundary = 1e-9 * (1 / reference if inverse else reference)  # P = 0 or inf, rounded
            if root > boundary and lower - slack <= root <= upper + slack:
                roots.append(1 / root if inverse else root)
        if not roots:
            return None
        return min(roots, key=lambda price: (abs(price - reference), price))

    # levels

    def raw(self, ratio: float) -> int:
        config = self.config
        return sum(
            ratio >= bound for bound in (config.watch, config.margin_call, config.liquidation)
        )

    def next_level(self, current: int, equity: float, maintenance: float) -> int:
        if equity <= 0:
            return 4
        ratio = maintenance / equity
        if self.raw(ratio) > current:
            return self.raw(ratio)
        lower = self.raw(ratio + self.config.hysteresis)
        return lower if lower < current else current

    # records

    def position_record(self, account_id: str, position: dict[str, Any]) -> dict[str, Any]:
        mark = self.marks.get(position["symbol"])
        reference = self.price_of(position)
        notional, pnl, margin = self.value(position, reference)
        return {
            "symbol": position["symbol"],
            "position_side": position["side"],
            "size": float(position["size"]),
            "entry_price": position["entry"],
            "mark_price": None if mark is None else mark[0],
            "notional": notional,
            "unrealized_pnl": pnl,
            "maintenance_margin": margin,
            "liquidation_price": self.solve(account_id, position["symbol"], 1.0, reference),
            "bankruptcy_price": self.solve(account_id, position["symbol"], 0.0, reference),
        }

    def identity(self, account_id: str) -> tuple[str, str, str]:
        account, mode, rest = account_id.split("/", 2)
        return account, mode, rest

    def settle_of(self, account_id: str) -> str:
        _, mode, rest = self.identity(account_id)
        return rest if mode == "cross" else self.instruments[rest.split("/")[0]]["settle"]

    def transition(self, account_id: str, previous: str, trigger: str, ts: int) -> dict[str, Any]:
        self.counts[account_id] = self.counts.get(account_id, 0) + 1
        account, mode, _ = self.identity(account_id)
        record: dict[str, Any] = {
            "event_id": f"{account_id}#{self.counts[account_id]}",
            "margin_account": account_id,
            "account": account,
            "mode": mode,
            "settle": self.settle_of(account_id),
            "from": previous,
            "to": self.levels.get(account_id, "safe"),
        }
        if trigger == "close":
            record.update(
                margin_ratio=0.0,
                equity=None,
                maintenance_margin=0.0,
                ts=ts,
                trigger="close",
                positions=[],
            )
            return record
        equity, maintenance = self.money(account_id)
        record.update(
            margin_ratio=maintenance / equity if equity > 0 else None,
            equity=equity,
            maintenance_margin=maintenance,
            ts=ts,
            trigger=trigger,
            positions=[self.position_record(account_id, p) for p in self.members(account_id)],
        )
        return record

    def evaluate(self, accounts: set[str], trigger: str, ts: int) -> list[dict[str, Any]]:
        records = []
        for account_id in sorted(accounts):
            current = self.levels.get(account_id, "safe")
            if not self.members(account_id):
                self.levels.pop(account_id, None)
                if current != "safe":
                    records.append(self.transition(account_id, current, "close", ts))
                continue
            equity, maintenance = self.money(account_id)
            level = LEVELS[self.next_level(LEVELS.index(current), equity, maintenance)]
            if level != current:
                self.levels[account_id] = level
                records.append(self.transition(account_id, current, trigger, ts))
        return records

    def holders(self, symbol: str) -> set[str]:
        return {p["ma"] for p in self.positions.values() if p["symbol"] == symbol}

    def advance(self, ts: int) -> None:
        self.replay_time = max(self.replay_time, ts)

    # retention (SPEC §13): W = replay time - horizon, before the event

    def watermark(self) -> int:
        return self.replay_time - self.config.horizon_ms

    def remembers(self, key: tuple[str, str, str], edge: int) -> bool:
        """Open, or closed with its last event after the watermark."""
        return key in self.positions or (key in self.order_keys and self.order_keys[key][1] > edge)

    def forget_wallet_if_gone(self, account: str, asset: str, edge: int) -> None:
        """An emptied cross account whose balance and closes are all at or below the watermark
        loses its wallet and balance order keys (its event count stays)."""
        if self.members(f"{account}/cross/{asset}"):
            return
        keys = self.balance_keys.get((account, asset))
        if keys is not None and keys[1] > edge:
            return
        for key, (_, ts) in self.order_keys.items():
            owner, symbol, _ = key
            mine = owner == account and self.instruments[symbol]["settle"] == asset
            if mine and key not in self.positions and ts > edge:
                return
        self.balance_keys.pop((account, asset), None)
        self.wallets.pop((account, asset), None)

    # events

    def apply(self, event: Any) -> tuple[str, str | None, list[dict[str, Any]]]:
        if not isinstance(event, dict):
            return "rejected", "not a JSON object", []
        kind = event.get("type")
        if kind is None:
            return "rejected", "missing type", []
        handler = (
            {
                "instrument": self.on_instrument,
                "mark": self.on_mark,
                "position": self.on_position,
                "balance": self.on_balance,
                "fund": self.on_fund,
                "depth": self.on_depth,
            }.get(kind)
            if isinstance(kind, str)
            else None
        )
        if handler is None:
            return "rejected", "unknown type", []
        try:
            return handler(event)
        except RefusedError as refusal:
            return "rejected", str(refusal), []

    def on_instrument(self, event: dict[str, Any]) -> tuple[str, str | None, list[dict[str, Any]]]:
        instrument = parse_instrument(event)
        symbol = instrument["symbol"]
        old = self.instruments.get(symbol)
        if old is not None and (
            old["kind"] != instrument["kind"] or old["settle"] != instrument["settle"]
        ):
            raise RefusedError("instrument kind or settle change")
        self.instruments[symbol] = instrument
        return "accepted", None, self.evaluate(self.holders(symbol), "instrument", self.replay_time)

    def on_mark(self, event: dict[str, Any]) -> tuple[str, str | None, list[dict[str, Any]]]:
        symbol = as_name(event, "symbol")
        price = positive(event, "price")
        ts = as_integer(require(event, "ts"), "ts")
        if symbol not in self.instruments:
            raise RefusedError("unknown symbol")
        if symbol in self.marks and ts < self.marks[symbol][1]:
            return "stale", None, []
        self.marks[symbol] = (price, ts)
        self.advance(ts)
        return "accepted", None, self.evaluate(self.holders(symbol), f"mark:{symbol}", ts)

    def on_position(self, event: dict[str, Any]) -> tuple[str, str | None, list[dict[str, Any]]]:
        account, symbol = as_name(event, "account"), as_name(event, "symbol")
        size = as_number(require(event, "size"), "size")
        entry = positive(event, "entry_price") if size != 0 else 0.0
        mode = choice(event, "mode", ("cross", "isolated"))
        margin = None
        if event.get("margin") is None:
            if mode == "isolated" and size != 0:
                raise RefusedError("isolated position without margin")
        else:
            margin = as_number(event["margin"], "margin")
            if margin < 0:
                raise RefusedError("negative margin")
        side = choice(event, "position_side", ("both", "long", "short"))
        if (side == "long" and size < 0) or (side == "short" and size > 0):
            raise RefusedError("size sign contradicts position_side")
        seq = optional_integer(event, "seq")
        ts = as_integer(require(event, "ts"), "ts")
        if symbol not in self.instruments:
            raise RefusedError("unknown symbol")
        key = (account, symbol, side)
        edge = self.watermark()
        if not self.remembers(key, edge):
            if ts <= edge:
                return "stale", None, []
        elif older(seq, ts, *self.order_keys[key]):
            return "stale", None, []
        self.forget_wallet_if_gone(account, self.instruments[symbol]["settle"], edge)
        self.order_keys[key] = (seq, ts)
        self.advance(ts)
        affected = set()
        if key in self.positions:
            affected.add(self.positions.pop(key)["ma"])
        if size != 0:
            settle = self.instruments[symbol]["settle"]
            if mode == "cross":
                account_id = f"{account}/cross/{settle}"
            else:
                suffix = "" if side == "both" else f"/{side}"
                account_id = f"{account}/isolated/{symbol}{suffix}"
                self.isolated_margin[account_id] = margin if margin is not None else 0.0
            self.positions[key] = {
                "account": account,
                "symbol": symbol,
                "side": side,
                "size": size,
                "entry": entry,
                "ma": account_id,
                "settle": settle,
            }
            affected.add(account_id)
        return "accepted", None, self.evaluate(affected, "position", ts)

    def on_balance(self, event: dict[str, Any]) -> tuple[str, str | None, list[dict[str, Any]]]:
        account, asset = as_name(event, "account"), as_name(event, "asset")
        wallet = as_number(require(event, "wallet"), "wallet")
        seq = optional_integer(event, "seq")
        ts = as_integer(require(event, "ts"), "ts")
        key = (account, asset)
        edge = self.watermark()
        self.forget_wallet_if_gone(account, asset, edge)
        if key not in self.balance_keys:
            if ts <= edge:
                return "stale", None, []
        elif older(seq, ts, *self.balance_keys[key]):
            return "stale", None, []
        self.balance_keys[key] = (seq, ts)
        self.wallets[key] = wallet
        self.advance(ts)
        account_id = f"{account}/cross/{asset}"
        tracked = {account_id} if self.members(account_id) else set()
        return "accepted", None, self.evaluate(tracked, "balance", ts)

    def on_fund(self, event: dict[str, Any]) -> tuple[str, str | None, list[dict[str, Any]]]:
        asset = as_name(event, "asset")
        if as_number(require(event, "balance"), "balance") < 0:
            raise RefusedError("negative balance")
        ts = as_integer(require(event, "ts"), "ts")
        outcome = self.timed(self.funds, asset, ts)
        if outcome[0] == "accepted":
            balance = as_number(event["balance"], "balance")
            self.fund_history.setdefault(asset, []).append((ts, balance))
        return outcome

    def on_depth(self, event: dict[str, Any]) -> tuple[str, str | None, list[dict[str, Any]]]:
        symbol = as_name(event, "symbol")
        book_side(require(event, "bids"), "bids", descending=True)
        book_side(require(event, "asks"), "asks", descending=False)
        ts = as_integer(require(event, "ts"), "ts")
        if symbol not in self.instruments:
            raise RefusedError("unknown symbol")
        outcome = self.timed(self.depth, symbol, ts)
        if outcome[0] == "accepted":
            self.books[symbol] = tuple(  # type: ignore[assignment]
                [[as_number(part, side) for part in level] for level in event[side]]
                for side in ("bids", "asks")
            )
        return outcome

    def timed(
        self, latest: dict[str, int], key: str, ts: int
    ) -> tuple[str, str | None, list[dict[str, Any]]]:
        if key in latest and ts < latest[key]:
            return "stale", None, []
        latest[key] = ts
        self.advance(ts)
        return "accepted", None, []

    # summary

    def summary_accounts(self) -> list[dict[str, Any]]:
        accounts = []
        for account_id in sorted({p["ma"] for p in self.positions.values()}):
            members = self.members(account_id)
            equity, maintenance = self.money(account_id)
            account, mode, _ = self.identity(account_id)
            accounts.append(
                {
                    "margin_account": account_id,
                    "account": account,
                    "mode": mode,
                    "settle": self.settle_of(account_id),
                    "wallet": self.wallet(account_id, members),
                    "equity": equity,
                    "maintenance_margin": maintenance,
                    "margin_ratio": maintenance / equity if equity > 0 else None,
                    "level": self.levels.get(account_id, "safe"),
                    "positions": [self.position_record(account_id, p) for p in members],
                }
            )
        return accounts


def book_side(levels: Any, name: str, *, descending: bool) -> None:
    if not isinstance(levels, list):
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


def reference_replay(
    lines: Sequence[str | bytes], config: ReferenceConfig
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Transitions (SPEC §7) and the summary (SPEC §10) of a replay file's lines."""
    reference = Reference(config)
    transitions: list[dict[str, Any]] = []
    counts = {"accepted": 0, "rejected": 0, "stale": 0}
    rejects = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        status: str
        reason: str | None
        records: list[dict[str, Any]]
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            status, reason, records = "rejected", "invalid json", []
        else:
            status, reason, records = reference.apply(event)
        counts[status] += 1
        if status == "rejected":
            rejects.append({"line": number, "reason": reason})
        transitions.extend(records)
    tracked = reference.summary_accounts()
    summary = {
        "events": counts,
        "rejects": rejects,
        "levels": {level: sum(a["level"] == level for a in tracked) for level in LEVELS},
        "accounts": tracked,
        **fund_summary(reference),
    }
    return transitions, summary
