"""The state and valuation of the slow scalar reference (tests/reference.py), standard
library only: positions, wallets and marks in dicts, every number summed again from them."""

from __future__ import annotations

import math
from typing import Any

from tests.liquidation_reference import depth_fields
from tests.reference_input import (
    LEVELS,
    SIDE_ORDER,
    ReferenceConfig,
    maintenance_of,
    parse_instrument,
)


class ReferenceBook:
    """All state in dicts; every number recomputed when it is needed: valuation, levels,
    transitions and the summary's accounts (the events that change the state are
    tests/reference.py's `Reference`)."""

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
        members = self.members(account_id)
        record.update(
            margin_ratio=maintenance / equity if equity > 0 else None,
            equity=equity,
            maintenance_margin=maintenance,
            ts=ts,
            trigger=trigger,
            positions=[self.position_record(account_id, p) for p in members],
        )
        if record["to"] in ("liquidation", "bankrupt"):
            fields = depth_fields(self, account_id, members)  # type: ignore[arg-type]
            for position, price in zip(record["positions"], fields["effective"], strict=True):
                position["effective_bankruptcy_price"] = price
            record["liquidation_plan"] = fields["plan"]
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
