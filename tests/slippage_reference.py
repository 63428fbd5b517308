"""The depth walk of the slow references (tests/fund_reference.py and
tests/allocation_reference.py): a shocked price, and the cost of closing contracts against
the last depth snapshot level by level (SPEC §8). Standard library only."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.reference import Reference

FLOOR = 0.001


def shocked_price(reference: Reference, position: dict[str, Any], x: float) -> float:
    beta = float(reference.instruments[position["symbol"]]["beta"])
    return reference.price_of(position) * max(1.0 + beta * x, FLOOR)


def slippage(reference: Reference, symbol: str, quantity: float, x: float) -> float:
    """The cost of closing `quantity` (signed: longs sold) of `symbol` at shock x."""
    if symbol not in reference.books or symbol not in reference.marks or quantity == 0:
        return 0.0
    beta = float(reference.instruments[symbol]["beta"])
    closed = close_at(reference, symbol, quantity, max(1.0 + beta * x, FLOOR))
    return 0.0 if closed is None else closed[0]


def close_at(
    reference: Reference, symbol: str, quantity: float, factor: float
) -> tuple[float, float] | None:
    """(cost, average fill price) of closing `quantity` != 0 contracts (signed) against the
    book moved with the mark by `factor`; None without a mark, a book or levels on that side.
    The average is sum f*p / Q (linear) or Q / sum f/p (inverse), at the moved prices."""
    book, mark = reference.books.get(symbol), reference.marks.get(symbol)
    if book is None or mark is None:
        return None
    instrument = reference.instruments[symbol]
    selling = quantity > 0
    levels = book[0] if selling else book[1]
    if not levels:
        return None
    # value = sum of contracts * price, inverse = sum of contracts / price (unshocked prices)
    value = inverse = 0.0
    left = abs(quantity)
    for price, size in levels:
        take = min(left, size)
        value += take * price
        inverse += take / price
        left -= take
    if left > 0:
        more_value, more_inverse = _extension(levels, mark[0], left, selling)
        value, inverse = value + more_value, inverse + more_inverse
    contracts, cs = abs(quantity), float(instrument["cs"])
    spot = float(mark[0])
    if instrument["kind"] == "linear":
        gap = contracts * spot - value if selling else value - contracts * spot
        return max(cs * gap * factor, 0.0), value * factor / contracts
    gap = inverse - contracts / spot if selling else contracts / spot - inverse
    return max(cs * gap / factor, 0.0), contracts * factor / inverse


def _extension(
    levels: list[list[float]], mark: float, left: float, selling: bool
) -> tuple[float, float]:
    """(sum contracts * price, sum contracts / price) of the rest past the book.

    The price line leaves the last level at `rate` per contract (a sell never below 0.1% of
    the mark). Integrated over the price p instead of the contracts (du = dp / rate):
    contracts * price over [p1, p0] is (p0^2 - p1^2) / (2 rate), contracts / price is
    ln(p0 / p1) / rate.
    """
    depth = sum(size for _, size in levels)
    last = levels[-1][0]
    rate = max(0.0, (mark - last) if selling else (last - mark)) / depth
    if rate == 0.0:
        return left * last, left / last
    if not selling:
        top = last + rate * left
        return (top * top - last * last) / (2 * rate), math.log(top / last) / rate
    floor = min(FLOOR * mark, last)
    bottom = max(last - rate * left, floor)
    flat = max(0.0, left - (last - bottom) / rate)
    value = (last * last - bottom * bottom) / (2 * rate) + flat * floor
    inverse = math.log(last / bottom) / rate + flat / floor
    return value, inverse
