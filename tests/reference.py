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

import json
from collections.abc import Sequence
from typing import Any

from tests.fund_reference import fund_summary
from tests.reference_book import ReferenceBook
from tests.reference_input import (
    LEVELS,
    ReferenceConfig,
    RefusedError,
    as_integer,
    as_name,
    as_number,
    book_side,
    choice,
    older,
    optional_integer,
    parse_instrument,
    positive,
    require,
)


class Reference(ReferenceBook):
    """The reference's state, changed event by event (SPEC §3, §9)."""

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
