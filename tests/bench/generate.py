"""A replay file shaped like a venue's event stream, for benchmark (b). Deterministic for a seed.

- Instruments: the shipped default set (`streams.config.load_config(None)`): linear USDT and USDC
  contracts and inverse BTC- and ETH-settled ones, held in proportion to their popularity.
- Accounts appear over time (first a `balance` of a settle asset, then positions). Activity is
  heavy-tailed (account i trades with weight 1 / (i + 10)^0.8: a few bots and market makers, a
  long retail tail). An account trades 1-4 symbols, 30% of accounts in hedge mode (a long and a
  short leg), and 10% of new positions are isolated.
- Leverage, chosen per account as on a venue's leverage slider: mostly 2x-25x, 12% at 50x-125x,
  capped as venues cap it by tier (0.5 / mmr of the notional's tier); positions use 50%-100% of
  it, and a fill that would leave the margin account below its initial margin (twice the
  maintenance margin) is cut to a reduction, as a venue refuses it.
- Position updates are fills: resizes (entry re-averaged on increases), closes, one-way flips.
  Balance updates are realized PnL, funding, deposits and withdrawals.
- Liquidations: for every cross margin account and isolated position the generator keeps the
  mark at which it reaches its maintenance margin (other marks held); when a mark crosses it,
  the liquidation engine closes the positions right after that mark, takes half the maintenance
  margin as its fee and leaves the rest in the wallet, as a venue does. The level changes
  riskmon reports are the moves that precede this.
- Marks: every symbol in turn, a random walk (sigma 0.03% x beta a step, one step a second).
- A sprinkle of malformed lines (each rejected in any state) and stale lines (older re-sends of a
  position or balance, marks older than the symbol's current one).
- A quarter of the account lines carry numbers as decimal strings, as some venues send them.

`write_stream` returns the number of lines of each kind (KINDS): a replay of the file accepts
exactly the mark, position and balance lines, rejects the bad ones and counts the stale ones.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from pathlib import Path
from typing import Any

import orjson

from risk import Instrument
from streams.config import load_config
from tests.bench.trader_book import Account, Leg, TraderBook, Trigger

START_MS = 1_760_000_000_000
START_PRICES = {
    "BTCUSDT": 65_000.0,
    "ETHUSDT": 3_200.0,
    "SOLUSDT": 150.0,
    "XRPUSDT": 0.6,
    "DOGEUSDT": 0.15,
    "BNBUSDT": 580.0,
    "BTCUSDC": 65_000.0,
    "ETHUSDC": 3_200.0,
    "BTCUSD_PERP": 65_000.0,
    "ETHUSD_PERP": 3_200.0,
}
POPULARITY = {
    "BTCUSDT": 30,
    "ETHUSDT": 18,
    "SOLUSDT": 9,
    "XRPUSDT": 6,
    "DOGEUSDT": 6,
    "BNBUSDT": 5,
    "BTCUSDC": 8,
    "ETHUSDC": 5,
    "BTCUSD_PERP": 8,
    "ETHUSD_PERP": 5,
}
MARK_SIGMA = 0.0003
KINDS = ("mark", "position", "balance", "bad", "stale")
COMPACT_EVERY = 100_000


class StreamWriter(TraderBook):
    """The generator's state: instruments, marks, accounts and the lines written so far."""

    def __init__(
        self, *, accounts: int, seed: int, mark_share: float, bad_share: float, stale_share: float
    ) -> None:
        self.rng = random.Random(seed)
        self.instruments: list[Instrument] = list(load_config(None).instruments)
        missing = [i.symbol for i in self.instruments if i.symbol not in START_PRICES]
        if missing:
            raise ValueError(f"no start price for {missing}")
        count = len(self.instruments)
        self.prices = [START_PRICES[i.symbol] for i in self.instruments]
        self.mark_ts = [-1] * count
        self.popularity = [POPULARITY.get(i.symbol, 1) for i in self.instruments]
        self.accounts: list[Account | None] = [None] * accounts
        self.activity = _cumulative([1.0 / (i + 10) ** 0.8 for i in range(accounts)])
        self.mark_share, self.bad_share, self.stale_share = mark_share, bad_share, stale_share
        # Per symbol: triggers hit when the mark falls to them (keys negated) or rises to them.
        self.falling: list[list[Trigger]] = [[] for _ in range(count)]
        self.rising: list[list[Trigger]] = [[] for _ in range(count)]
        self.stale_pool: list[str] = []
        self.lines: list[str] = []
        self.kinds = bytearray()  # the KINDS index of each line
        self.seq = 0
        self.now = START_MS
        self.next_symbol = 0

    # -- the stream ------------------------------------------------------------------------------

    def run(self, events: int) -> None:
        rng = self.rng
        # Event time advances so that every symbol gets one mark a second.
        step_ms = 1000.0 * self.mark_share / len(self.prices)
        clock = float(self.now)
        bad_below = self.mark_share + self.bad_share
        stale_below = bad_below + self.stale_share
        next_compaction = COMPACT_EVERY
        while len(self.lines) < events:
            clock += step_ms
            self.now = int(clock)
            roll = rng.random()
            if roll < self.mark_share:
                self.mark()
            elif roll < bad_below:
                self.bad()
            elif roll >= stale_below or not self.stale():
                self.account_event()
            if len(self.lines) >= next_compaction:
                self.compact()
                next_compaction += COMPACT_EVERY
        del self.lines[events:]
        del self.kinds[events:]

    def emit(self, kind: str, event: dict[str, Any] | list[Any]) -> str:
        line = orjson.dumps(event).decode()  # a str of its own size (orjson over-allocates)
        self.add(kind, line)
        return line

    def add(self, kind: str, line: str) -> None:
        self.lines.append(line)
        self.kinds.append(KINDS.index(kind))

    def counts(self) -> dict[str, int]:
        return {kind: self.kinds.count(code) for code, kind in enumerate(KINDS)}

    def mark(self) -> None:
        symbol = self.next_symbol
        self.next_symbol = (symbol + 1) % len(self.prices)
        instrument = self.instruments[symbol]
        self.prices[symbol] = price = _round(
            self.prices[symbol] * math.exp(self.rng.gauss(0.0, MARK_SIGMA * instrument.beta))
        )
        self.mark_ts[symbol] = self.now
        self.emit(
            "mark", {"type": "mark", "symbol": instrument.symbol, "price": price, "ts": self.now}
        )
        hit: list[Trigger] = []
        falling, rising = self.falling[symbol], self.rising[symbol]
        while falling and -falling[0].key >= price:
            hit.append(heapq.heappop(falling))
        while rising and rising[0].key <= price:
            hit.append(heapq.heappop(rising))
        for trigger in hit:
            account = self.accounts[trigger.account]
            if (
                account is not None
                and account.versions.get(trigger.group) == trigger.version
                and not self.liquidate_group(account, trigger.group)
            ):
                self.arm(account, trigger.group)  # other marks moved: not there yet

    def bad(self) -> None:
        """A line the engine rejects in any state."""
        rng = self.rng
        symbol = rng.choice(self.instruments).symbol
        choice = rng.randrange(8)
        if choice == 0 and self.lines:  # truncated in transit
            line = rng.choice(self.lines[-1000:])
            self.add("bad", line[: len(line) // 2])
            return
        position = {"type": "position", "account": "acct-0", "symbol": symbol, "size": 1}
        samples: list[dict[str, Any] | list[Any]] = [
            {"type": "mark", "symbol": symbol, "price": "NaN", "ts": self.now},
            {"type": "mark", "symbol": symbol, "price": 0, "ts": self.now},
            {"type": "mark", "symbol": "LUNAUSDT", "price": 1.0, "ts": self.now},
            {**position, "ts": self.now},  # no entry_price
            {**position, "entry_price": 100.0, "mode": "isolated", "ts": self.now},  # no margin
            {"type": "trade", "symbol": symbol, "price": 1.0, "ts": self.now},
            [self.now, symbol],
        ]
        self.emit("bad", samples[choice - 1])

    def stale(self) -> bool:
        """An older re-send (position or balance) or an out-of-date mark; False when none yet."""
        rng = self.rng
        if rng.random() < 0.2:
            marked = [s for s, ts in enumerate(self.mark_ts) if ts > START_MS]
            if not marked:
                return False
            symbol = rng.choice(marked)
            event = {
                "type": "mark",
                "symbol": self.instruments[symbol].symbol,
                "price": _round(self.prices[symbol] * 1.001),
                "ts": self.mark_ts[symbol] - rng.randint(1, 5_000),
            }
            self.emit("stale", event)
            return True
        pool = self.stale_pool
        if not pool:
            return False
        index = rng.randrange(len(pool))
        pool[index], pool[-1] = pool[-1], pool[index]
        self.add("stale", pool.pop())
        return True

    def compact(self) -> None:
        """Drop the triggers of margin accounts that changed since (they were re-armed)."""
        for heaps in (self.falling, self.rising):
            for index, heap in enumerate(heaps):
                live = [t for t in heap if self._live(t)]
                heapq.heapify(live)
                heaps[index] = live

    def _live(self, trigger: Trigger) -> bool:
        account = self.accounts[trigger.account]
        return account is not None and account.versions.get(trigger.group) == trigger.version

    # -- accounts --------------------------------------------------------------------------------

    def account_event(self) -> None:
        rng = self.rng
        number = bisect.bisect_left(self.activity, rng.random() * self.activity[-1])
        account = self.accounts[number]
        if account is None:
            account = self.accounts[number] = self.new_account(number)
        for group in account.shared:  # missed by the triggers: other marks moved
            if self.liquidate_group(account, group):
                return
        symbol = rng.choice(account.symbols)
        settle = self.instruments[symbol].settle
        if settle not in account.wallets:
            self.balance(account, settle, self.opening_wallet(account, symbol))
            return
        if account.legs and rng.random() < 0.18:
            asset = rng.choice(list(account.wallets))
            wallet = account.wallets[asset] * rng.uniform(0.9, 1.1)
            if asset == settle and wallet < 0.1 * self.opening_wallet(account, symbol):
                wallet = self.opening_wallet(account, symbol)  # a deposit after a loss
            self.balance(account, asset, wallet)
            return
        side = rng.choice(("long", "short")) if account.hedge else "both"
        leg = account.legs.get((symbol, side))
        if leg is None:
            self.open(account, symbol, side)
        elif rng.random() < 0.12:
            self.position(account, side, leg, 0.0, leg.entry)
        else:
            self.resize(account, side, leg)

    def open(self, account: Account, symbol: int, side: str) -> None:
        """A new position at the account's leverage, within the tier's limit (0.5 / mmr_k)."""
        rng = self.rng
        instrument = self.instruments[symbol]
        tiers = instrument.tiers
        price = self.prices[symbol]
        sharing = sum(self.instruments[s].settle == instrument.settle for s in account.symbols)
        budget = account.wallets[instrument.settle] / sharing  # settle units
        leverage = min(account.leverage, 0.5 / tiers.mmrs[0]) * rng.uniform(0.5, 1.0)
        notional = budget * leverage
        notional = min(notional, budget / (2.0 * tiers.mmrs[tiers.tier(notional)]))
        if instrument.kind == "linear":
            quantity = notional / (instrument.contract_size * price)
        else:
            quantity = round(notional * price / instrument.contract_size)
        if quantity <= 0.0:
            return
        sign = 1.0 if side == "long" else -1.0 if side == "short" else rng.choice((1.0, -1.0))
        entry = price * rng.uniform(0.999, 1.001)
        margin = _round(notional / leverage) if rng.random() < 0.1 else None
        leg = Leg(symbol, 0.0, entry, margin)
        account.legs[(symbol, side)] = leg
        if not self.affordable(account, side, leg, sign * quantity):
            del account.legs[(symbol, side)]
            return
        self.position(account, side, leg, sign * quantity, entry)

    def resize(self, account: Account, side: str, leg: Leg) -> None:
        """A fill: the position grows or shrinks (or, one-way, flips) if the margin allows it."""
        rng = self.rng
        price = self.prices[leg.symbol]
        size = leg.size * rng.uniform(0.3, 1.7)
        if side == "both" and rng.random() < 0.05:
            size = -size
        if self.instruments[leg.symbol].kind == "inverse":
            size = math.copysign(max(1.0, round(abs(size))), size)
        if abs(size) > abs(leg.size) and not self.affordable(account, side, leg, size):
            size = math.copysign(abs(leg.size) * rng.uniform(0.3, 1.0), leg.size)
            if self.instruments[leg.symbol].kind == "inverse":
                size = math.copysign(max(1.0, round(abs(size))), size)
        if size * leg.size < 0.0:  # a flip: the new position opens at the fill price
            entry = price
        elif abs(size) > abs(leg.size):  # an increase re-averages the entry
            entry = (abs(leg.size) * leg.entry + (abs(size) - abs(leg.size)) * price) / abs(size)
        else:
            entry = leg.entry
        self.position(account, side, leg, size, entry)

    def position(
        self, account: Account, side: str, leg: Leg, size: float, entry: float, *, arm: bool = True
    ) -> None:
        """Send a position update (size 0 closes it) and re-arm its margin account."""
        self.seq += 1
        size, entry = _round(size), _round(entry)
        instrument = self.instruments[leg.symbol]
        event: dict[str, Any] = {
            "type": "position",
            "account": account.name,
            "symbol": instrument.symbol,
            "size": size,
            "entry_price": entry,
        }
        if leg.margin is not None:
            event["mode"] = "isolated"
            event["margin"] = leg.margin
        if side != "both":
            event["position_side"] = side
        event["seq"] = self.seq
        event["ts"] = self.now
        if self.rng.random() < 0.25:
            event = _as_strings(event, ("size", "entry_price", "margin"))
        if leg.line:  # superseded by this line: stale if sent again
            self.stale_pool.append(leg.line)
        leg.line = self.emit("position", event)
        leg.size, leg.entry = size, entry
        if size == 0.0:
            del account.legs[(leg.symbol, side)]
        if arm:
            self.arm(account, self.group_of(leg, side))

    def balance(self, account: Account, asset: str, wallet: float, *, arm: bool = True) -> None:
        self.seq += 1
        wallet = _round(wallet)
        event: dict[str, Any] = {
            "type": "balance",
            "account": account.name,
            "asset": asset,
            "wallet": wallet,
            "seq": self.seq,
            "ts": self.now,
        }
        if self.rng.random() < 0.25:
            event = _as_strings(event, ("wallet",))
        last = account.balance_lines.get(asset)
        if last:  # superseded by this line: stale if sent again
            self.stale_pool.append(last)
        account.balance_lines[asset] = self.emit("balance", event)
        account.wallets[asset] = wallet
        if arm:
            self.arm(account, asset)

    # -- liquidations ----------------------------------------------------------------------------


def write_stream(
    path: Path,
    *,
    events: int,
    accounts: int,
    seed: int = 7,
    mark_share: float = 0.12,
    bad_share: float = 0.002,
    stale_share: float = 0.003,
) -> dict[str, int]:
    """Write `events` lines to `path`; returns the number of lines of each kind (KINDS)."""
    writer = StreamWriter(
        accounts=accounts,
        seed=seed,
        mark_share=mark_share,
        bad_share=bad_share,
        stale_share=stale_share,
    )
    writer.run(events)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write("\n".join(writer.lines))
        out.write("\n")
    return writer.counts()


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def _round(value: float) -> float:
    """Eight significant digits, as venues publish."""
    return float(f"{value:.8g}")


def _as_strings(event: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: (repr(v) if k in names and v is not None else v) for k, v in event.items()}
