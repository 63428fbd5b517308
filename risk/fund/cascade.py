"""Cascade stress (SPEC §8.2; the model and its choices: docs/FUND.md "Cascade stress").

At grid shock x every mark first gaps to M' = M * max(1 + beta * x, 0.001), as in the
one-round stress. Then, round r = 1, 2, ...:

1. every margin account at or past its maintenance margin at the current side marks
   (equity <= maintenance, tiered, risk/kernels/cascade.py) is liquidated: L_r;
2. per symbol, the long contracts of L_r are sold into the bids and its short contracts bought
   from the asks, each side walked with its gross size from the top of the shocked book
   (every level's price times the shock's multiplier; past the last level the extension of
   risk/fund/slippage.py); each side's mark moves to the price of the last level filled:
   D_s <= M' on the bid side, U_s >= M' on the ask side (risk/kernels/cascade.py);
3. longs are marked at D_s and shorts at U_s for the next round.

The walk is always of the whole of L_r's contracts (L_r contains L_{r-1}: marks only get worse
for the accounts holding them, and an account's equity minus its maintenance is monotone in each
of its prices because every mmr is below 1), so the rounds climb to the smallest fixed point.
They stop when a round liquidates no account that the round before had not (the marks are
final), when no mark moved, or after 50 rounds (then the accounts past maintenance at the last
marks are counted, their orders not walked). A symbol without a depth snapshot (or a mark) has
no price impact.

The fund takes over the liquidated positions at the final marks:

    cascade drawdown(x) = sum over accounts at the final marks of max(0, -equity)

It is at least the one-round drawdown (deficits + slippage at M'): every account in deficit at
M' is liquidated in round 1, the final flows contain round 1's, and the last level a flow fills
is no better than its average fill. Without depth it is the one-round figure. Thinning every
level by the same factor moves every last level filled further, so it never lowers the figure.
Walking each side's gross flow, rather than SPEC's net flow, keeps these properties: a net flow
could fall as more accounts are liquidated on the other side and lift a mark back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from risk.fund.exposure import FloatArray, IndexArray, fieldwise_sum
from risk.fund.parameters import shock_multiplier
from risk.fund.snapshot import Market
from risk.kernels.cascade import walked_marks

MAX_ROUNDS: Final = 50


class RoundShare(NamedTuple):
    """One process's accounts at n side-mark scenarios: deficit sum, accounts at or past
    maintenance, 2 (long, short) x (asset's symbols) x n contracts they hold."""

    deficit: FloatArray
    liquidated: NDArray[np.int64]
    flows: FloatArray

    def __add__(self, other: object) -> RoundShare:
        return fieldwise_sum(self, other)


# (asset, 2 x rows x n side multipliers) -> the round of every process's accounts
RoundSource = Callable[[str, FloatArray], RoundShare]


class CascadePoint(NamedTuple):
    """The cascade at one shock: drawdown, rounds that liquidated someone, accounts liquidated
    at the final marks, and final mark / pre-shock mark of the symbols the cascade moved."""

    drawdown: float
    rounds: int
    liquidated: int
    moves: dict[str, float]


def asset_rows(market: Market, asset: str) -> list[int]:
    """The symbols settling in `asset`, in engine order (the rows of a stress share)."""
    return [index for index, settle in enumerate(market.settle) if settle == asset]


def shocked(market: Market, rows: list[int], shocks: FloatArray) -> FloatArray:
    """rows x n: max(1 + beta * x, 0.001), each symbol's mark multiplier at each shock."""
    return shock_multiplier(market.beta[rows], shocks)


def cascade_stress(
    market: Market, asset: str, shocks: FloatArray, source: RoundSource
) -> list[CascadePoint]:
    """The cascade at each shock (module docstring), every process's accounts together."""
    rows = asset_rows(market, asset)
    base = shocked(market, rows, shocks)
    walk = _Walk(asset, source, _flat_books(market, rows), market.marks[rows], base)
    final = _Final(len(shocks), rows)
    for side in (shocks < 0.0, shocks > 0.0):  # apart: a round skips more accounts per side
        if side.any():
            walk.run(np.flatnonzero(side), final)
    return [
        CascadePoint(
            float(final.deficit[column]),
            int(final.rounds[column]),
            int(final.liquidated[column]),
            _moves(market, rows, base[:, column], final.marks[:, :, column]),
        )
        for column in range(len(shocks))
    ]


class _Walk:
    """The rounds of one asset's shocks (`cascade_stress`)."""

    def __init__(
        self,
        asset: str,
        source: RoundSource,
        book: tuple[IndexArray, FloatArray, FloatArray],
        spot: FloatArray,
        base: FloatArray,
    ) -> None:
        self.asset, self.source, self.book, self.spot, self.base = asset, source, book, spot, base

    def run(self, active: IndexArray, final: _Final) -> None:
        """Rounds for the shocks `active` until each settles; results into `final`."""
        marks = np.stack((self.base, self.base))
        previous = np.zeros(marks.shape[2], dtype=np.int64)
        for round_number in range(1, MAX_ROUNDS + 2):
            share = self.source(self.asset, marks[:, :, active])
            if round_number > MAX_ROUNDS:  # the accounts past maintenance at the last marks
                final.settle(active, share, marks, np.ones(len(active), dtype=np.bool_))
                return
            added = share.liquidated > previous[active]
            final.rounds[active] += added
            base = np.ascontiguousarray(self.base[:, active])
            moved = walked_marks(self.book, self.spot, base, share.flows)
            going = added & (moved != marks[:, :, active]).any(axis=(0, 1))
            final.settle(active, share, marks, ~going)
            previous[active] = share.liquidated
            marks[:, :, active] = moved
            active = active[going]
            if not len(active):
                return


class _Final:
    """What each shock's cascade ended with."""

    def __init__(self, count: int, rows: list[int]) -> None:
        self.deficit = np.zeros(count)
        self.liquidated = np.zeros(count, dtype=np.int64)
        self.rounds = np.zeros(count, dtype=np.int64)
        self.marks = np.ones((2, len(rows), count))  # the marks each was last valued at

    def settle(
        self, active: IndexArray, share: RoundShare, marks: FloatArray, done: NDArray[np.bool_]
    ) -> None:
        """Keep the round `share`, valued at `marks` of `active`, for the columns `done`."""
        columns = active[done]
        self.deficit[columns] = share.deficit[done]
        self.liquidated[columns] = share.liquidated[done]
        self.marks[:, :, columns] = marks[:, :, columns]


def _flat_books(market: Market, rows: list[int]) -> tuple[IndexArray, FloatArray, FloatArray]:
    """The asset's depth books end to end for `walked_marks`: bids of every row, then asks."""
    bounds, prices, prefix = [0], [], []
    for channel in (0, 1):
        for symbol in rows:
            book = market.books.get(symbol)
            side = None if book is None else book[channel]
            levels = np.zeros(0) if side is None else side.prices
            prices.append(levels)
            prefix.append(np.zeros(1) if side is None else side.size)
            bounds.append(bounds[-1] + len(levels))
    return np.array(bounds, dtype=np.intp), joined(prices), joined(prefix)


def _moves(
    market: Market, rows: list[int], base: FloatArray, marks: FloatArray
) -> dict[str, float]:
    """Per moved symbol, the side that moved further: its mark over the pre-shock mark."""
    moves = {}
    for row, symbol in enumerate(rows):
        long_side, short_side = float(marks[0, row]), float(marks[1, row])
        if long_side == short_side == base[row]:
            continue
        down, up = np.log(base[row] / long_side), np.log(short_side / base[row])
        moves[market.symbols[symbol]] = long_side if down >= up else short_side
    return moves


def joined(parts: list[FloatArray]) -> FloatArray:
    return np.concatenate(parts) if parts else np.zeros(0)
