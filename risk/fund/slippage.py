"""The cost of closing positions against the last depth snapshot (SPEC §8).

The fund takes over the positions of accounts in deficit and closes them at market: their long
contracts of a symbol are sold into the bids, their short contracts bought from the asks. The
two are not netted against each other (conservative: the fund may not be able to cross them
internally in a gap), so a further account in deficit can only add to the cost. A shock moves the
whole book with the mark (every level's price times the same m), so the cost against the
shocked mark M' = m * M is, with fills f_i at book prices p_i (contracts, contract size cs):

    linear   sell: cs * m * (Q*M - sum f_i*p_i)        buy: cs * m * (sum f_i*p_i - Q*M)
    inverse  sell: cs / m * (sum f_i/p_i - Q/M)        buy: cs / m * (Q/M - sum f_i/p_i)

Beyond the last level the book is extended at its own average impact: price moves on by
a = |M - p_last| / (size of the side) per contract, from p_last; a sell's price never falls
below 0.1% of the mark (then fills there). A cost below zero (a book better than the mark) is
counted as zero. A side with no levels gives no cost: the snapshot says nothing about it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from risk.fund.exposure import FloatArray, prefix_sums
from risk.kernels.depth_fills import extensions


class BookSide(NamedTuple):
    """One side, best first, with prefix sums of size, size*price and size/price."""

    prices: FloatArray
    size: FloatArray  # prefix sums, length levels + 1
    value: FloatArray
    inverse_value: FloatArray


class DepthBook(NamedTuple):
    bids: BookSide
    asks: BookSide


def book_of(
    bids: tuple[tuple[float, float], ...], asks: tuple[tuple[float, float], ...]
) -> DepthBook:
    return DepthBook(_side(bids), _side(asks))


def _side(levels: tuple[tuple[float, float], ...]) -> BookSide:
    table = np.array(levels, dtype=np.float64).reshape(-1, 2)
    prices, sizes = table[:, 0], table[:, 1]
    return BookSide(
        prices, prefix_sums(sizes), prefix_sums(sizes * prices), prefix_sums(sizes / prices)
    )


def close_cost(
    book: DepthBook,
    *,
    inverse: bool,
    contract_size: float,
    mark: float,
    multiplier: FloatArray,
    closing: FloatArray,
) -> FloatArray:
    """2 x n: the cost of each side at each scenario; `closing` is 2 x n: long contracts
    sold (into the bids), short contracts bought (from the asks)."""
    cost = np.zeros(closing.shape)
    sides = ((0, True, book.bids), (1, False, book.asks))
    for index, selling, side in sides:
        contracts = closing[index]
        chosen = np.flatnonzero(contracts > 0.0)
        if not len(chosen) or not len(side.prices):
            continue
        quantity = contracts[chosen]
        value, inverse_value = _fills(side, quantity, mark, selling=selling)
        sign = 1.0 if selling else -1.0
        if inverse:
            base = sign * (inverse_value - quantity / mark) / multiplier[chosen]
        else:
            base = sign * (quantity * mark - value) * multiplier[chosen]
        cost[index, chosen] = np.maximum(contract_size * base, 0.0)
    return cost


def _fills(
    side: BookSide, quantity: FloatArray, mark: float, *, selling: bool
) -> tuple[FloatArray, FloatArray]:
    """(sum f*p, sum f/p) of filling `quantity` contracts, the extension included."""
    levels = len(side.prices)
    depth = side.size[levels]
    within = np.minimum(quantity, depth)
    level = np.minimum(np.searchsorted(side.size, within, side="right") - 1, levels - 1)
    partial = within - side.size[level]
    value = side.value[level] + partial * side.prices[level]
    inverse_value = side.inverse_value[level] + partial / side.prices[level]
    rest = quantity - within
    if (rest > 0.0).any():
        extra_value, extra_inverse = extensions(side.prices[-1], depth, rest, mark, selling)
        value, inverse_value = value + extra_value, inverse_value + extra_inverse
    return value, inverse_value
