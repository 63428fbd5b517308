"""Compile (or load from numba's cache) every kernel the engine calls, before real events.

The first process on a machine compiles the kernels of `risk.kernels` (about 25 s here, see
BENCHMARKS.md); numba caches the machine code next to the sources (`cache=True`), so later
processes load it in well under a second. `warm_up` runs a tiny engine through every path that
reaches a kernel, with the argument types the real paths pass, so nothing compiles later in
the middle of a stream. The edge calls it and tells the user what the wait is
(`streams.kernels`).
"""

from __future__ import annotations

import numpy as np

from risk.batch import EventBatch
from risk.engine.engine import Engine
from risk.events import Event, Rejection, parse_event
from risk.fund.allocation import walked
from risk.fund.cover import top_two
from risk.fund.exposure import exposure_of
from risk.fund.report import engine_share
from risk.kernels.depth_fills import extensions

_TIERS = [{"cap": 1_000.0, "mmr": 0.01}, {"cap": 5_000.0, "mmr": 0.02}, {"mmr": 0.05}]


def warm_up() -> None:
    """Drive a throwaway engine through the mark tick (bands, joint bands, bulk evaluation and
    records), single-account events, an instrument change, a batch, an account view, the
    fund projection's Cover-N, cascade and slippage kernels, and the reconciliation sweep."""
    engine = Engine([])
    for kind, settle in (("linear", "USDT"), ("inverse", "BTC")):
        symbol = f"WARM{kind.upper()}"
        _apply(engine, {"type": "instrument", "symbol": symbol, "kind": kind,
                        "settle": settle, "tiers": _TIERS})  # fmt: skip
        for number in range(12):  # more than BULK accounts move together
            account = f"warm{number}"
            _apply(engine, {"type": "balance", "account": account, "asset": settle,
                            "wallet": 2.0 + number, "ts": 1})  # fmt: skip
            _apply(engine, {"type": "position", "account": account, "symbol": symbol,
                            "size": 10.0 + number, "entry_price": 100.0, "ts": 2})  # fmt: skip
        for ts, price in enumerate((100.0, 100.1, 99.0, 50.0, 200.0), start=3):
            _apply(engine, {"type": "mark", "symbol": symbol, "price": price, "ts": ts})
        _apply(engine, {"type": "instrument", "symbol": symbol, "kind": kind,
                        "settle": settle, "tiers": _TIERS[1:]})  # fmt: skip
    _apply(engine, {"type": "instrument", "symbol": "WARMPAIR", "kind": "linear",
                    "settle": "USDT", "tiers": _TIERS})  # fmt: skip
    for number in range(12):  # accounts of two symbols: the joint bands
        _apply(engine, {"type": "position", "account": f"warm{number}", "symbol": "WARMPAIR",
                        "size": -5.0 - number, "entry_price": 100.0, "ts": 20})  # fmt: skip
    for ts, (symbol, price) in enumerate(
        (("WARMPAIR", 100.0), ("WARMPAIR", 100.1), ("WARMLINEAR", 90.0), ("WARMPAIR", 300.0)),
        start=21,
    ):
        _apply(engine, {"type": "mark", "symbol": symbol, "price": price, "ts": ts})
    updates = [  # position updates and balances in bulk: the compiled runs
        parse_event({"type": "position", "account": "warm1", "symbol": "WARMPAIR",
                     "size": -7.0, "entry_price": 100.0, "ts": 30}),
        parse_event({"type": "balance", "account": "warm1", "asset": "USDT",
                     "wallet": 1.0, "ts": 31}),
    ]  # fmt: skip
    engine.apply_batch(EventBatch.from_events(updates))
    for index in engine.tracked_accounts():
        engine.account_view(int(index))
    top_two(exposure_of(engine), np.array([-0.5, 0.5]))  # the fund projection's Cover-N
    share = engine_share(engine)  # and its cascade rounds and loss allocation
    rows = sum(settle == "USDT" for settle in share.market.settle)
    share.cascade("USDT", np.ones((2, rows, 2)))
    shocks = np.array([-0.5, 0.5])
    share.weights("USDT", shocks)
    walked(share.queue("USDT", shocks, np.ones((2, rows, 2))), np.ones((2, rows, 2)))
    extensions(100.0, 1.0, np.ones(2), 101.0, True)  # the fund's slippage past a book's end
    share.deleveraged("USDT", shocks, np.ones((2, rows, 2)))
    engine.margin.equity[int(engine.tracked_accounts()[0])] += 1.0  # a drift to repair
    engine.reconcile(0.0, 10**9)  # the reconciliation sweep, a whole pass


def _apply(engine: Engine, value: dict[str, object]) -> None:
    event: Event | Rejection = parse_event(value)
    engine.apply(event)
