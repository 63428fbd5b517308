"""Bands of margin accounts that hold several symbols, against a full recompute.

Cross accounts trading two or three symbols of one settle asset, near their thresholds and
across tiers, under marks that move the symbols one at a time with jumps, and with position
and balance events in between. After every event:

- no account holds a level that its members valued afresh at the current marks would change
  (`assert_settled`: the bands never hid a crossing);
- every account's running totals are its wallet plus the cached values of its rows, so a row
  valued afresh by the joint path was not counted twice;

and the joint bands were used: ticks skipped rows of accounts holding several symbols.
"""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from risk import Engine
from risk.book import NO_POSITION
from tests.risk.builders import accepted, balance, make_instrument, mark, position
from tests.risk.test_kernels import assert_settled

TIERS = [{"cap": 20_000, "mmr": 0.01}, {"cap": 200_000, "mmr": 0.025}, {"mmr": 0.05}]
# symbol, kind, settle, contract size, first mark
SYMBOLS = [
    ("AUSDT", "linear", "USDT", 1.0, 100.0),
    ("BUSDT", "linear", "USDT", 10.0, 7.0),
    ("CUSDT", "linear", "USDT", 0.1, 2_500.0),
    ("AUSD", "inverse", "BTC", 100.0, 40_000.0),
    ("BUSD", "inverse", "BTC", 10.0, 2_000.0),
]


def assert_rows_add_up(engine: Engine) -> None:
    """Running equity = wallet + the cached uPnL of the account's rows, and running MM = the
    cached MM of its rows, up to the rounding of the deltas."""
    margin, positions = engine.margin, engine.positions
    for account in range(len(margin)):
        equity, maintenance, scale = margin.wallet[account], 0.0, abs(margin.wallet[account])
        pid = margin.head[account]
        while pid != NO_POSITION:
            block, row = engine.blocks[positions.symbol[pid]], positions.row[pid]
            equity += block.pnl[row]
            maintenance += block.maintenance[row]
            scale += abs(block.pnl[row]) + abs(block.maintenance[row])
            pid = positions.next[pid]
        tolerance = 1e-9 * (scale + 1.0)
        assert math.isclose(margin.equity[account], equity, abs_tol=tolerance), account
        assert math.isclose(margin.maintenance[account], maintenance, abs_tol=tolerance)


def jointly_skipped(engine: Engine) -> int:
    """Rows with a band (valued at an older mark) whose account holds several symbols."""
    margin, count = engine.margin, 0
    for block in engine.blocks:
        for row in range(len(block)):
            owner = block.account[row]
            held = {engine.positions.symbol[pid] for pid in margin.members(owner, engine.positions)}
            count += block.band_low[row] < block.band_high[row] and len(held) > 1
    return count


def build(rng: random.Random) -> tuple[Engine, list[float]]:
    """Accounts of 2-3 symbols of one settle asset, some hedged, wallets near maintenance."""
    engine = Engine(
        [make_instrument(s, kind, settle, TIERS, cs) for s, kind, settle, cs, _ in SYMBOLS]
    )
    prices = [item[4] for item in SYMBOLS]
    for code, price in enumerate(prices):
        accepted(engine, mark(SYMBOLS[code][0], price, 1))
    for number in range(40):
        name, linear = f"a{number}", rng.random() < 0.6
        codes = [0, 1, 2] if linear else [3, 4]
        held = rng.sample(codes, rng.choice([2, 3]) if linear else 2)
        settle, notional_sum = SYMBOLS[held[0]][2], 0.0
        for code in held:
            symbol, kind, _, contract_size, start = SYMBOLS[code]
            size = rng.choice([-1.0, 1.0]) * 10 ** rng.uniform(0.0, 3.0)
            entry = start * (1.0 + rng.uniform(-0.02, 0.02))
            notional_sum += abs(size) * contract_size * (start if kind == "linear" else 1 / start)
            if rng.random() < 0.7:
                accepted(engine, position(name, symbol, size, entry, 2))
                continue
            accepted(engine, position(name, symbol, abs(size), entry, 2, position_side="long"))
            other = -abs(size) * rng.uniform(0.2, 0.9)
            accepted(engine, position(name, symbol, other, entry, 2, position_side="short"))
        accepted(engine, balance(name, settle, notional_sum * rng.uniform(0.01, 0.2) + 1e-6, 2))
    return engine, prices


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_joint_bands_never_hide_a_level_change(seed: int) -> None:
    rng = random.Random(seed)
    engine, prices = build(rng)
    ts, skipped = 10, 0
    for step in range(160):
        ts += 1
        if step % 23 == 22:  # an event on an account drops its bands
            name = f"a{rng.randrange(40)}"
            accepted(engine, balance(name, "USDT", 10 ** rng.uniform(0.0, 4.0), ts))
        else:
            code = rng.randrange(len(SYMBOLS))
            move = rng.gauss(0.0, 0.002) if rng.random() < 0.9 else rng.uniform(-0.05, 0.05)
            prices[code] *= 1.0 + move
            accepted(engine, mark(SYMBOLS[code][0], prices[code], ts))
            skipped += jointly_skipped(engine)
        assert_settled(engine)
        assert_rows_add_up(engine)
    assert skipped, "no tick skipped a row of a multi-symbol account: joint bands unused"
