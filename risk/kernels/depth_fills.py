"""Filling a close against a symbol's last depth snapshot, compiled (SPEC §7.1, §8).

The model is the fund's (`risk.fund.slippage`, docs/FUND.md): long contracts are sold into the
bids, short contracts bought from the asks, level by level at the book's prices; past the last
level the book goes on at its own average impact, a = |M - p_last| / (size of the side) per
contract from p_last, and a sale's price never falls below 0.1% of the mark. With fills f_i at
prices p_i for Q contracts of contract size cs at mark M, the cost of the close is

    linear   sell: cs * (Q*M - sum f_i*p_i)        buy: cs * (sum f_i*p_i - Q*M)
    inverse  sell: cs * (sum f_i/p_i - Q/M)        buy: cs * (Q/M - sum f_i/p_i)

in the settle asset, counted as 0 where the book is better than the mark. Moving the mark by a
factor m moves every level by m too, so the cost at mark m*M is m times the cost at M (linear)
or 1/m times it (inverse): it is proportional to v = P (linear) or v = 1/P (inverse).

`Books` holds every symbol's two sides in one set of columns: side j = 2*symbol + (0 bids,
1 asks) is levels start[j]:start[j+1], best first, with the running sums of size, size*price
and size/price through each level of its side. `known[symbol]` says whether a snapshot exists.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from risk.fund.parameters import MARK_FLOOR

Books = tuple[
    NDArray[np.bool_],  # known: a depth snapshot exists, per symbol
    NDArray[np.int64],  # start of each side's levels, 2 * symbols + 1 entries
    NDArray[np.float64],  # price of each level
    NDArray[np.float64],  # size through this level of its side
    NDArray[np.float64],  # size * price through this level
    NDArray[np.float64],  # size / price through this level
]


def books_of(
    symbols: int, snapshots: dict[int, tuple[tuple[tuple[float, float], ...], ...]]
) -> Books:
    """`Books` of `symbols` symbols from the snapshots given as {symbol: (bids, asks)}, each
    side [(price, size)] best first."""
    known = np.zeros(symbols, dtype=np.bool_)
    counts = np.zeros(2 * symbols, dtype=np.int64)
    columns: list[list[NDArray[np.float64]]] = [[], [], [], []]
    for symbol in sorted(snapshots):
        known[symbol] = True
        for index, levels in enumerate(snapshots[symbol]):
            if not levels:
                continue
            table = np.array(levels, dtype=np.float64).reshape(-1, 2)
            prices, sizes = table[:, 0], table[:, 1]
            counts[2 * symbol + index] = len(table)
            for column, values in zip(
                columns,
                (prices, np.cumsum(sizes), np.cumsum(sizes * prices), np.cumsum(sizes / prices)),
                strict=True,
            ):
                column.append(values)
    start = np.zeros(2 * symbols + 1, dtype=np.int64)
    start[1:] = np.cumsum(counts)
    joined = [np.concatenate(column) if column else np.zeros(0) for column in columns]
    return known, start, joined[0], joined[1], joined[2], joined[3]


@njit(cache=True)
def close_fills(books: Books, side: int, quantity: float, mark: float) -> tuple[float, float]:
    """(sum f*p, sum f/p) of filling `quantity` contracts on side `side` (2*symbol + 0 sells
    into the bids, + 1 buys from the asks), the extension past the last level included."""
    start, prices, through_size = books[1], books[2], books[3]
    first, end = start[side], start[side + 1]
    depth = through_size[end - 1]
    within = min(quantity, depth)
    level = first + np.searchsorted(through_size[first:end], within)
    level = min(level, end - 1)
    size_before, value, inverse = 0.0, 0.0, 0.0
    if level > first:
        size_before, value, inverse = (
            through_size[level - 1], books[4][level - 1], books[5][level - 1]
        )  # fmt: skip
    partial = within - size_before
    value += partial * prices[level]
    inverse += partial / prices[level]
    rest = quantity - within
    if rest > 0.0:
        extra_value, extra_inverse = _extension(prices[end - 1], depth, rest, mark, side % 2 == 0)
        value += extra_value
        inverse += extra_inverse
    return value, inverse


@njit(cache=True)
def extensions(
    last: float, depth: float, rest: NDArray[np.float64], mark: float, selling: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """`_extension` of each of `rest` (the fund's slippage fills many closes at once)."""
    value, inverse = np.empty(len(rest)), np.empty(len(rest))
    for index in range(len(rest)):
        value[index], inverse[index] = _extension(last, depth, rest[index], mark, selling)
    return value, inverse


@njit(cache=True)
def _extension(
    last: float, depth: float, rest: float, mark: float, selling: bool
) -> tuple[float, float]:
    """Integrals of p(u) and 1/p(u) over u in [0, rest] contracts past the last level."""
    rate = max(0.0, (mark - last) if selling else (last - mark)) / depth
    if rate == 0.0:
        return rest * last, rest / last
    if not selling:
        top = last + rate * rest
        return rest * (last + top) / 2.0, math.log(top / last) / rate
    floor = min(MARK_FLOOR * mark, last)
    sloped = min(rest, (last - floor) / rate)
    bottom = last - rate * sloped
    flat = rest - sloped
    value = sloped * (last + bottom) / 2.0 + flat * floor
    return value, math.log(last / bottom) / rate + flat / floor


@njit(cache=True)
def close_cost(
    books: Books,
    side: int,
    quantity: float,
    mark: float,
    instrument: tuple[bool, float],
) -> tuple[float, float]:
    """(cost, average fill price) of closing `quantity` > 0 contracts at mark `mark`;
    `instrument` = (linear, contract size). The average is sum f*p / Q (linear) or
    Q / sum f/p (inverse: the price of the same coin value)."""
    linear, contract_size = instrument
    value, inverse = close_fills(books, side, quantity, mark)
    selling = side % 2 == 0
    if linear:
        gap = quantity * mark - value if selling else value - quantity * mark
        return contract_size * max(gap, 0.0), value / quantity
    gap = inverse - quantity / mark if selling else quantity / mark - inverse
    return contract_size * max(gap, 0.0), quantity / inverse
