"""The baseline of benchmark (b): a straightforward dict-based replay, no numpy.

Per event it updates a dict and recomputes the touched cross account from its positions; a mark
recomputes every account holding the symbol. Validation is reduced to decoding and dispatch, so
the baseline is, if anything, flattered.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from risk import Instrument, Thresholds


class NaiveReplay:
    def __init__(self, instruments: Sequence[Instrument], thresholds: Thresholds) -> None:
        self.instruments = {instrument.symbol: instrument for instrument in instruments}
        self.thresholds = thresholds
        self.marks: dict[str, float] = {}
        self.wallets: dict[str, float] = {}
        self.positions: dict[str, dict[str, tuple[float, float]]] = {}
        self.holders: dict[str, set[str]] = {}
        self.levels: dict[str, int] = {}
        self.transitions = 0

    def run(self, lines: Iterable[bytes]) -> None:
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            handler = getattr(self, f"on_{event.get('type')}", None)
            if handler is not None:
                handler(event)

    def on_balance(self, event: dict[str, Any]) -> None:
        self.wallets[event["account"]] = float(event["wallet"])
        self.evaluate(event["account"])

    def on_position(self, event: dict[str, Any]) -> None:
        account, symbol = event["account"], event["symbol"]
        held = self.positions.setdefault(account, {})
        if float(event["size"]) == 0.0:
            held.pop(symbol, None)
            self.holders.get(symbol, set()).discard(account)
        else:
            held[symbol] = (float(event["size"]), float(event["entry_price"]))
            self.holders.setdefault(symbol, set()).add(account)
        self.evaluate(account)

    def on_mark(self, event: dict[str, Any]) -> None:
        price = float(event["price"])
        if not math.isfinite(price) or price <= 0:
            return
        self.marks[event["symbol"]] = price
        for account in self.holders.get(event["symbol"], ()):
            self.evaluate(account)

    def evaluate(self, account: str) -> None:
        held = self.positions.get(account)
        if not held:
            return
        equity, maintenance = self.wallets.get(account, 0.0), 0.0
        for symbol, (size, entry) in held.items():
            instrument = self.instruments[symbol]
            price = self.marks.get(symbol, entry)
            notional = abs(size) * price
            tier = bisect.bisect_left(instrument.tiers.caps, notional)
            equity += size * (price - entry)
            maintenance += notional * instrument.tiers.mmrs[tier] - instrument.tiers.cums[tier]
        current = self.levels.get(account, 0)
        level = self.thresholds.next_level(current, equity, maintenance)
        if level != current:
            self.levels[account] = level
            self.transitions += 1
