"""Generate examples/sample.jsonl: a small, deterministic crash day for `make demo`.

80 traders open cross, isolated, hedge-mode and coin-margined positions at leverages between 2x
and 50x on the shipped default instruments; marks drift for half an hour, then fall about 25%
in twenty minutes (BTC; alts by their beta) and partly recover. A few traders add margin or cut
size on the way down, and the stream carries a handful of malformed and stale lines, as a real
feed does. Run `python examples/make_sample.py > examples/sample.jsonl` to rebuild it.
"""

from __future__ import annotations

import json
import math
import random
import sys
from typing import Any

START_MS = 1_760_000_000_000
TICK_MS = 10_000
PRICES = {"BTCUSDT": 65000.0, "ETHUSDT": 3200.0, "SOLUSDT": 150.0, "BTCUSD_PERP": 65000.0}
BETAS = {"BTCUSDT": 1.0, "ETHUSDT": 1.2, "SOLUSDT": 1.6, "BTCUSD_PERP": 1.0}
LEVERAGES = (2, 3, 5, 5, 10, 10, 10, 20, 20, 25, 50)


def crash_path(tick: int) -> float:
    """Log-return of BTC at `tick` (10 s each): drift, a 25% fall, a partial rebound."""
    if tick < 180:
        return 0.0
    if tick < 300:
        return math.log(0.75) * (tick - 180) / 120
    return math.log(0.75) + math.log(1.08) * min(1.0, (tick - 300) / 120)


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")


def open_book(rng: random.Random) -> list[dict[str, Any]]:
    """Balances and opening positions of the traders; returns the positions opened."""
    opened = []
    for trader in range(80):
        account = f"trader-{trader:03d}"
        leverage = rng.choice(LEVERAGES)
        symbol = rng.choice(("BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCUSD_PERP"))
        price = PRICES[symbol]
        side = 1 if rng.random() < 0.7 else -1
        if symbol == "BTCUSD_PERP":
            contracts = rng.randint(5, 200)
            margin = contracts * 100 / price / leverage
            position: dict[str, Any] = {
                "account": account,
                "symbol": symbol,
                "size": side * contracts,
            }
            emit(
                {
                    "type": "balance",
                    "account": account,
                    "asset": "BTC",
                    "wallet": round(margin, 8),
                    "ts": START_MS,
                }
            )
        else:
            notional = rng.uniform(2_000, 400_000)
            position = {
                "account": account,
                "symbol": symbol,
                "size": round(side * notional / price, 3),
            }
            margin = notional / leverage
            if trader % 4 == 1:
                position.update(mode="isolated", margin=round(margin, 2))
            else:
                emit(
                    {
                        "type": "balance",
                        "account": account,
                        "asset": "USDT",
                        "wallet": round(margin, 2),
                        "ts": START_MS,
                    }
                )
        if trader % 10 == 7 and "mode" not in position:
            hedge = dict(
                position, position_side="short" if side > 0 else "long", size=-position["size"] / 2
            )
            position["position_side"] = "long" if side > 0 else "short"
            opened.append(hedge)
        opened.append(position)
    for position in opened:
        emit(
            {
                "type": "position",
                **position,
                "entry_price": PRICES[position["symbol"]],
                "seq": 1,
                "ts": START_MS + 1,
            }
        )
    return opened


def run_market(rng: random.Random, opened: list[dict[str, Any]]) -> None:
    """Mark ticks along the crash path, with traders reacting and a few bad lines."""
    noise = dict.fromkeys(PRICES, 0.0)
    for tick in range(1, 480):
        ts = START_MS + tick * TICK_MS
        for symbol, start in PRICES.items():
            noise[symbol] += rng.gauss(0.0, 0.0008)
            price = start * math.exp(BETAS[symbol] * crash_path(tick) + noise[symbol])
            emit({"type": "mark", "symbol": symbol, "price": f"{price:.2f}", "ts": ts})
        if tick % 60 == 0:
            emit({"type": "fund", "asset": "USDT", "balance": 2_500_000 - tick * 900, "ts": ts})
        if tick % 25 == 0:
            react(rng, opened, ts, tick)
        if tick in (200, 260):
            emit({"type": "mark", "symbol": "BTCUSDT", "price": "NaN", "ts": ts})
            emit(
                {
                    "type": "position",
                    "account": "trader-999",
                    "symbol": "PEPEUSDT",
                    "size": 1,
                    "entry_price": 1,
                    "ts": ts,
                }
            )
            sys.stdout.write('{"type": "mark", "symbol": "ETHUSDT", "price": 31\n')
            emit({"type": "mark", "symbol": "SOLUSDT", "price": 1.0, "ts": ts - 600_000})


def react(rng: random.Random, opened: list[dict[str, Any]], ts: int, tick: int) -> None:
    """One trader cuts size by half or (isolated) tops up margin."""
    position = rng.choice(opened)
    if position["size"] == 0:
        return
    update = dict(position, seq=tick, ts=ts, entry_price=PRICES[position["symbol"]])
    if "margin" in position and rng.random() < 0.5:
        update["margin"] = round(position["margin"] * 1.5, 2)
    else:
        update["size"] = round(position["size"] / 2, 3) if abs(position["size"]) > 1 else 0
    position.update(size=update["size"], margin=update.get("margin"))
    if position["margin"] is None:
        del position["margin"]
        update.pop("margin", None)
    emit({"type": "position", **update})


def main() -> None:
    rng = random.Random(20200312)
    run_market(rng, open_book(rng))


if __name__ == "__main__":
    main()
