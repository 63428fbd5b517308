"""Random but plausible replay streams for comparing the engine with the scalar reference.

A dozen accounts trade four instruments (two linear USDT with several tiers, one inverse BTC
with several tiers, one single-tier linear USDC) at 1x-60x, in cross and isolated mode, one-way
and hedge; prices random-walk with jumps, so accounts cross every level both ways. The stream
also carries stale updates (by seq and by ts), mode switches, closes and reopens, instrument
redefinitions (some refused), fund and depth snapshots, and a bad line of every kind.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from typing import Any

from risk import Engine, parse_event
from risk.events import InstrumentEvent
from risk.instruments import Instrument

INSTRUMENTS: list[dict[str, Any]] = [
    {
        "symbol": "AAAUSDT",
        "kind": "linear",
        "settle": "USDT",
        "tiers": [
            {"cap": 20000, "mmr": 0.01},
            {"cap": 100000, "mmr": 0.02},
            {"cap": 400000, "mmr": 0.05, "cum": 3200.0},
            {"mmr": 0.1},
        ],
    },
    {
        "symbol": "BBBUSDT",
        "kind": "linear",
        "settle": "USDT",
        "contract_size": 10,
        "tiers": [{"cap": 50000, "mmr": 0.005}, {"cap": 250000, "mmr": 0.0125}, {"mmr": 0.05}],
    },
    {
        "symbol": "CCCUSD",
        "kind": "inverse",
        "settle": "BTC",
        "contract_size": 100,
        "tiers": [{"cap": 0.5, "mmr": 0.01}, {"cap": 2, "mmr": 0.025}, {"mmr": 0.05}],
    },
    {"symbol": "DDDUSDC", "kind": "linear", "settle": "USDC", "tiers": [{"mmr": 0.02}]},
]
START_PRICES = {"AAAUSDT": 50000.0, "BBBUSDT": 300.0, "CCCUSD": 40000.0, "DDDUSDC": 2.5}
ACCOUNTS = [f"acct{number:02d}" for number in range(12)]
BAD_LINES = [
    "{broken",
    "[1, 2, 3]",
    '"just a string"',
    '{"symbol": "AAAUSDT", "price": 1, "ts": 5}',
    '{"type": "trade", "ts": 5}',
    '{"type": "mark", "symbol": "AAAUSDT", "ts": 5}',
    '{"type": "mark", "symbol": "AAAUSDT", "price": "12x", "ts": 5}',
    '{"type": "mark", "symbol": "AAAUSDT", "price": NaN, "ts": 5}',
    '{"type": "mark", "symbol": "AAAUSDT", "price": "Infinity", "ts": 5}',
    '{"type": "mark", "symbol": "AAAUSDT", "price": 1e999, "ts": 5}',
    '{"type": "mark", "symbol": "AAAUSDT", "price": 0, "ts": 5}',
    '{"type": "mark", "symbol": "ZZZUSDT", "price": 3, "ts": 5}',
    '{"type": "mark", "symbol": "AAAUSDT", "price": true, "ts": 5}',
    '{"type": "mark", "symbol": "AAAUSDT", "price": 3, "ts": -5}',
    '{"type": "position", "account": "acct01", "symbol": "AAAUSDT", "size": 1, "ts": 5}',
    '{"type": "position", "account": "a/b", "symbol": "AAAUSDT", "size": 0, "ts": 5}',
    '{"type": "position", "account": "acct01", "symbol": "AAAUSDT", "size": 1,'
    ' "entry_price": 5, "mode": "isolated", "ts": 5}',
    '{"type": "position", "account": "acct01", "symbol": "AAAUSDT", "size": -1,'
    ' "entry_price": 5, "position_side": "long", "ts": 5}',
    '{"type": "position", "account": "acct01", "symbol": "AAAUSDT", "size": 1,'
    ' "entry_price": 5, "mode": "portfolio", "ts": 5}',
    '{"type": "position", "account": "acct01", "symbol": "AAAUSDT", "size": 1,'
    ' "entry_price": 5, "mode": "isolated", "margin": -2, "ts": 5}',
    '{"type": "balance", "account": "acct01", "asset": "USDT", "wallet": 5, "seq": 1.5, "ts": 5}',
    '{"type": "instrument", "symbol": "EEE", "kind": "linear", "settle": "USDT",'
    ' "tiers": [{"cap": 10, "mmr": 0.02}, {"mmr": 0.01}]}',
    '{"type": "instrument", "symbol": "EEE", "kind": "linear", "settle": "USDT",'
    ' "tiers": [{"cap": 10, "mmr": 0.01, "cum": 3}, {"mmr": 0.02}]}',
    '{"type": "instrument", "symbol": "EEE", "kind": "perpetual", "settle": "USDT"}',
    '{"type": "fund", "asset": "USDT", "balance": -1, "ts": 5}',
    '{"type": "depth", "symbol": "AAAUSDT", "bids": [[2, 1], [3, 1]], "asks": [], "ts": 5}',
    '{"type": "depth", "symbol": "AAAUSDT", "bids": [], "asks": [[2, 0]], "ts": 5}',
]


class StreamWriter:
    """Builds the lines; keeps time, prices, sequence numbers and what was last sent."""

    def __init__(self, rng: random.Random, tick_ms: int = 2_000) -> None:
        self.rng = rng
        self.tick_ms = tick_ms
        self.lines: list[str] = []
        self.ts = 1_700_000_000_000
        self.prices = dict(START_PRICES)
        self.marked: set[str] = set()
        self.seq: dict[tuple[str, ...], int] = {}
        self.sent: list[dict[str, Any]] = []
        self.wallets = {account: rng.uniform(2_000, 60_000) for account in ACCOUNTS}

    def number(self, value: float) -> float | str:
        """A JSON number, or now and then the same value as a decimal string."""
        return repr(value) if self.rng.random() < 0.15 else value

    def emit(self, event: dict[str, Any]) -> None:
        self.lines.append(json.dumps(event))
        if "ts" in event and event["type"] in ("position", "balance"):
            self.sent.append(event)

    def tick(self) -> int:
        self.ts += self.rng.randint(1, self.tick_ms)
        return self.ts

    def next_seq(self, key: tuple[str, ...]) -> int | None:
        if self.rng.random() < 0.25:
            return None
        self.seq[key] = self.seq.get(key, 0) + self.rng.randint(1, 3)
        return self.seq[key]

    def mark(self) -> None:
        symbol = self.rng.choice(list(self.prices))
        move = self.rng.gauss(0.0, 0.012)
        if self.rng.random() < 0.06:
            move += self.rng.choice((-1, 1)) * self.rng.uniform(0.05, 0.2)
        self.prices[symbol] *= max(0.3, 1.0 + move)
        self.marked.add(symbol)
        price = self.prices[symbol]
        self.emit(
            {"type": "mark", "symbol": symbol, "price": self.number(price), "ts": self.tick()}
        )

    def position(self) -> None:
        rng = self.rng
        account, instrument = rng.choice(ACCOUNTS), rng.choice(INSTRUMENTS)
        symbol = instrument["symbol"]
        side = rng.choices(("both", "long", "short"), weights=(6, 2, 2))[0]
        mode = "isolated" if rng.random() < 0.3 else "cross"
        event: dict[str, Any] = {
            "type": "position",
            "account": account,
            "symbol": symbol,
            "position_side": side,
            "mode": mode,
            "ts": self.tick(),
        }
        price = self.prices[symbol] * (1.0 + rng.gauss(0.0, 0.01))
        notional = self.wallets[account] * rng.uniform(0.2, 4.0)
        leverage = rng.choice((1.0, 3.0, 5.0, 10.0, 20.0, 40.0, 60.0))
        contract = instrument.get("contract_size", 1)
        quantity = (
            notional / price / contract if instrument["kind"] == "linear" else notional / contract
        )
        direction = {"long": 1, "short": -1}.get(side, rng.choice((1, -1)))
        size = 0.0 if rng.random() < 0.15 else direction * quantity
        event.update(size=self.number(size), entry_price=self.number(price))
        if mode == "isolated" and size != 0:
            margin = notional / leverage
            event["margin"] = self.number(
                margin if instrument["kind"] == "linear" else margin / price
            )
        seq = self.next_seq((account, symbol, side))
        if seq is not None:
            event["seq"] = seq
        self.emit(event)

    def balance(self) -> None:
        account = self.rng.choice(ACCOUNTS)
        asset = self.rng.choice(("USDT", "USDT", "BTC", "USDC"))
        scale = {"USDT": 1.0, "BTC": 1 / 40000, "USDC": 0.5}[asset]
        wallet = self.wallets[account] * scale * self.rng.uniform(0.02, 1.5)
        event: dict[str, Any] = {
            "type": "balance",
            "account": account,
            "asset": asset,
            "wallet": self.number(wallet),
            "ts": self.tick(),
        }
        seq = self.next_seq((account, asset))
        if seq is not None:
            event["seq"] = seq
        self.emit(event)

    def stale(self) -> None:
        """An old position or balance update sent again with older keys."""
        if not self.sent:
            return
        old = dict(self.rng.choice(self.sent))
        if "seq" in old and old["seq"] > 1:
            old["seq"] -= 1
        else:
            old.pop("seq", None)
            old["ts"] -= 1
        self.lines.append(json.dumps(old))

    def instrument(self) -> None:
        rng = self.rng
        base = dict(rng.choice(INSTRUMENTS))
        roll = rng.random()
        if roll < 0.4:
            base["tiers"] = [dict(tier, mmr=tier["mmr"] * 1.2) for tier in base["tiers"]]
            for tier in base["tiers"]:
                tier.pop("cum", None)
        elif roll < 0.6:
            base["contract_size"] = base.get("contract_size", 1) * rng.choice((0.5, 2.0))
        elif roll < 0.8:
            base["settle"] = "USDC" if base["settle"] != "USDC" else "USDT"
        self.emit({"type": "instrument", **base})

    def extra(self) -> None:
        if self.rng.random() < 0.5:
            self.emit(
                {
                    "type": "fund",
                    "asset": "USDT",
                    "balance": self.rng.uniform(1e5, 1e6),
                    "ts": self.tick(),
                }
            )
            return
        symbol = self.rng.choice(list(self.prices))
        price = self.prices[symbol]
        self.emit(
            {
                "type": "depth",
                "symbol": symbol,
                "ts": self.tick(),
                "bids": [[price * 0.999, 3.0], [price * 0.998, 5.0]],
                "asks": [[price * 1.001, 2.0], [price * 1.002, 4.0]],
            }
        )


def generate_stream(
    seed: int, n_events: int, tick_ms: int = 2_000
) -> tuple[list[str], list[dict[str, Any]]]:
    """(JSONL lines, instrument definitions for the config) of a random stream; events are
    1..`tick_ms` ms apart (a long tick spans hours, so a short retention horizon matters)."""
    rng = random.Random(seed)
    writer = StreamWriter(rng, tick_ms)
    for account in ACCOUNTS:
        writer.emit(
            {
                "type": "balance",
                "account": account,
                "asset": "USDT",
                "wallet": writer.wallets[account],
                "ts": writer.tick(),
            }
        )
    actions = (
        writer.mark,
        writer.position,
        writer.balance,
        writer.stale,
        writer.instrument,
        writer.extra,
        lambda: writer.lines.append(rng.choice(BAD_LINES)),
        lambda: writer.lines.append(""),
    )
    weights = (30, 36, 12, 5, 2, 3, 6, 1)
    while len(writer.lines) < n_events:
        rng.choices(actions, weights=weights)[0]()
    return writer.lines, [dict(item) for item in INSTRUMENTS]


def toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + "}"
    return repr(value)


def config_text(instruments: list[dict[str, Any]], horizon_hours: float | None = None) -> str:
    retention = [] if horizon_hours is None else [f"[retention]\nhorizon_hours = {horizon_hours}"]
    blocks = retention + [
        "\n".join(
            ["[[instruments]]", *(f"{key} = {toml_value(value)}" for key, value in item.items())]
        )
        for item in instruments
    ]
    return "\n\n".join(blocks) + "\n"


def instrument_of(definition: dict[str, Any]) -> Instrument:
    """The instrument of one of `generate_stream`'s definitions."""
    parsed = parse_event({"type": "instrument", **definition})
    assert isinstance(parsed, InstrumentEvent), parsed
    return parsed.instrument


def apply_lines(
    engine: Engine, lines: Iterable[str], keep: Callable[[str], bool] | None = None
) -> Engine:
    """`engine` after every line that is JSON (a stream's unparsable lines are skipped), and of
    the account events only those whose account `keep` takes."""
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        account = event.get("account") if isinstance(event, dict) else None
        if keep is not None and account is not None and not keep(str(account)):
            continue
        engine.apply(parse_event(event))
    return engine
