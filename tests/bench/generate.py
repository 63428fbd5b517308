"""A replay file shaped like a venue's day, for benchmark (b).

Accounts first get a wallet, then the stream is account traffic (position updates, some opens
and closes, balance updates) at `events_per_second` of event time, with each symbol's mark
published every `mark_interval_ms` (venues publish about once a second), plus a sprinkle of
malformed lines and stale re-sends. Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SYMBOLS = {
    "BTCUSDT": 65000.0,
    "ETHUSDT": 3200.0,
    "SOLUSDT": 150.0,
    "XRPUSDT": 0.6,
    "DOGEUSDT": 0.15,
    "BNBUSDT": 580.0,
}
BAD_LINES = (
    '{"type": "mark", "symbol": "BTCUSDT", "price": "NaN", "ts": 1}',
    '{"type": "position", "account": "x"',
    '{"type": "trade"}',
)
START_MS = 1_760_000_000_000


def write_stream(
    path: Path,
    *,
    events: int,
    accounts: int,
    mark_interval_ms: int,
    events_per_second: int = 20_000,
    seed: int = 3,
) -> dict[str, int]:
    """Write the file; returns counts by kind of line."""
    rng = random.Random(seed)
    prices = dict(SYMBOLS)
    counts = {"mark": 0, "position": 0, "balance": 0, "bad": 0, "stale": 0}
    holdings: dict[int, list[str]] = {
        a: rng.sample(list(SYMBOLS), rng.randint(1, 3)) for a in range(accounts)
    }
    wallets = {a: rng.uniform(500, 50_000) for a in range(accounts)}
    lines = []
    for account in range(accounts):
        lines.append(
            _dump(
                {
                    "type": "balance",
                    "account": f"acct-{account}",
                    "asset": "USDT",
                    "wallet": round(wallets[account], 2),
                    "seq": 0,
                    "ts": START_MS,
                }
            )
        )
    counts["balance"] += accounts
    seq = 1
    next_mark = START_MS
    for number in range(events - accounts):
        ts = START_MS + number * 1000 // events_per_second
        while ts >= next_mark:
            for symbol in SYMBOLS:
                prices[symbol] *= 1.0 + rng.gauss(0.0, 0.0005)
                lines.append(
                    _dump(
                        {
                            "type": "mark",
                            "symbol": symbol,
                            "price": round(prices[symbol], 6),
                            "ts": next_mark,
                        }
                    )
                )
                counts["mark"] += 1
            next_mark += mark_interval_ms
        roll = rng.random()
        account = rng.randrange(accounts)
        seq += 1
        if roll < 0.005:
            lines.append(rng.choice(BAD_LINES))
            counts["bad"] += 1
        elif roll < 0.01:
            symbol = rng.choice(list(SYMBOLS))  # older than every applied mark
            lines.append(
                _dump({"type": "mark", "symbol": symbol, "price": 1.0, "ts": START_MS - 1})
            )
            counts["stale"] += 1
        elif roll < 0.13:
            wallets[account] *= rng.uniform(0.9, 1.1)
            lines.append(
                _dump(
                    {
                        "type": "balance",
                        "account": f"acct-{account}",
                        "asset": "USDT",
                        "wallet": round(wallets[account], 2),
                        "seq": seq,
                        "ts": ts,
                    }
                )
            )
            counts["balance"] += 1
        else:
            symbol = rng.choice(holdings[account])
            leverage = rng.choice((2, 3, 5, 10, 10, 20))
            # Venues cap leverage by tier; capping the notional keeps positions in the low tiers.
            notional = min(wallets[account] * leverage / len(holdings[account]), 100_000.0)
            size = 0.0 if rng.random() < 0.03 else rng.choice((1, -1)) * notional / prices[symbol]
            lines.append(
                _dump(
                    {
                        "type": "position",
                        "account": f"acct-{account}",
                        "symbol": symbol,
                        "size": round(size, 6),
                        "entry_price": round(prices[symbol] * rng.uniform(0.998, 1.002), 6),
                        "seq": seq,
                        "ts": ts,
                    }
                )
            )
            counts["position"] += 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return counts


def _dump(event: dict[str, object]) -> str:
    return json.dumps(event, separators=(",", ":"))
