"""Small builders shared by the risk unit tests: instruments, engines and events as dicts."""

from __future__ import annotations

from typing import Any

from risk import AccountView, Engine, Instrument, Outcome, Thresholds, parse_event
from risk.events import InstrumentEvent

# Binance BTCUSDT maintenance tiers of 2021 (notional caps in USDT, rates, published cum).
BTC_2021_TIERS: list[dict[str, float]] = [
    {"cap": 50_000, "mmr": 0.004},
    {"cap": 250_000, "mmr": 0.005},
    {"cap": 1_000_000, "mmr": 0.01},
    {"cap": 10_000_000, "mmr": 0.025},
    {"cap": 20_000_000, "mmr": 0.05},
    {"cap": 50_000_000, "mmr": 0.1},
    {"cap": 100_000_000, "mmr": 0.125},
    {"cap": 200_000_000, "mmr": 0.15},
    {"cap": 300_000_000, "mmr": 0.25},
    {"mmr": 0.5},
]
BTC_2021_CUMS: tuple[float, ...] = (0.0, 50.0, 1300.0, 16300.0, 266300.0, 1266300.0)
BTC_2021_CUMS += (2516300.0, 5016300.0, 25016300.0, 100016300.0)


def definition(
    symbol: str = "X",
    kind: str = "linear",
    settle: str = "USDT",
    tiers: object = None,
    contract_size: float = 1.0,
) -> dict[str, Any]:
    """An `instrument` event as a JSON-like dict."""
    return {
        "type": "instrument",
        "symbol": symbol,
        "kind": kind,
        "settle": settle,
        "contract_size": contract_size,
        "tiers": tiers,
    }


def make_instrument(
    symbol: str = "X",
    kind: str = "linear",
    settle: str = "USDT",
    tiers: object = None,
    contract_size: float = 1.0,
) -> Instrument:
    parsed = parse_event(definition(symbol, kind, settle, tiers, contract_size))
    assert isinstance(parsed, InstrumentEvent), parsed
    return parsed.instrument


def make_engine(*instruments: Instrument, thresholds: Thresholds | None = None) -> Engine:
    return Engine(instruments or (make_instrument(tiers=[{"mmr": 0.01}]),), thresholds)


def send(engine: Engine, event: dict[str, Any]) -> Outcome:
    return engine.apply(parse_event(event))


def accepted(engine: Engine, event: dict[str, Any]) -> Outcome:
    outcome = send(engine, event)
    assert outcome.status == "accepted", (outcome, event)
    return outcome


def mark(symbol: str, price: float, ts: int) -> dict[str, Any]:
    return {"type": "mark", "symbol": symbol, "price": price, "ts": ts}


def balance(account: str, asset: str, wallet: float, ts: int, **extra: Any) -> dict[str, Any]:
    event = {"type": "balance", "account": account, "asset": asset, "wallet": wallet, "ts": ts}
    return {**event, **extra}


def position(
    account: str, symbol: str, size: float, entry_price: float, ts: int, **extra: Any
) -> dict[str, Any]:
    event = {
        "type": "position",
        "account": account,
        "symbol": symbol,
        "size": size,
        "entry_price": entry_price,
        "ts": ts,
    }
    return {**event, **extra}


X_TIERS = [{"mmr": 0.01}]  # the tiers of engine_xy's X


def engine_xy() -> Engine:
    """X and Y linear in USDT (mmr 1% and 2%), I inverse in BTC (100 USD contracts, mmr 1%)."""
    return make_engine(
        make_instrument("X", tiers=X_TIERS),
        make_instrument("Y", tiers=[{"mmr": 0.02}]),
        make_instrument("I", "inverse", "BTC", [{"mmr": 0.01}], contract_size=100),
    )


def moves(outcome: Outcome) -> list[tuple[str, str, str, str]]:
    return [(t.event_id, t.from_level, t.to_level, t.trigger) for t in outcome.transitions]


def views(engine: Engine) -> dict[str, AccountView]:
    tracked = (engine.account_view(index) for index in engine.tracked_accounts())
    return {view.margin_account: view for view in tracked}


def isolated_x(size: float, ts: int, margin: float, **extra: Any) -> dict[str, Any]:
    return position("a", "X", size, 100.0, ts, mode="isolated", margin=margin, **extra)
