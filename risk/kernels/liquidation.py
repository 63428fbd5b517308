"""Depth-aware bankruptcy prices and the partial-liquidation plan, compiled (SPEC §7.1).

**Effective bankruptcy price.** For a position of symbol S in a margin account of equity E at
mark M, with v = P (linear) or v = 1/P (inverse) and A the account's exposure to v in S
(sum of size*cs over its legs in S, negated for inverse), equity at mark v is E + A*(v - v_M).
Closing the position costs c at M (`risk.kernels.depth_fills`) and c*v/v_M at v, since the
book moves with the mark. The effective bankruptcy price is the root of

    E + A*(v - v_M) - k*v = 0,   k = c / v_M,   so   v_e = (A*v_M - E) / (A - k).

As k >= 0 the root lies between the bankruptcy price and the mark: it is never farther from
the mark than `bankruptcy_price`, and equals it when the book is infinitely deep (c = 0). When
closing at the mark already leaves equity <= 0 (E - c <= 0, bankrupt accounts included), the
price is the mark itself. None (NaN) without a mark, without a snapshot, with no level on the
side the close takes, or with no root in (0, inf).

**Plan.** Positions are reduced in order of maintenance margin, largest first (ties: canonical
order), each filled against the depth at the current marks, its slippage charged to equity.
With E' the equity less the slippage so far and MM' the maintenance margin with the reductions
so far, reducing position i by x of its q contracts gives

    g(x) = T * (1 - PLAN_MARGIN) * (E' - cost_i(x)) - (MM' - MM_i(q) + MM_i(q - x)),

and the ratio is below T = the `margin_call` threshold where g >= 0. cost_i is convex in x (each
contract fills at a worse price than the one before) and MM_i is convex in the notional (rates
rise by tier), so g is concave: it rises to a maximum and falls after it. If that maximum is
>= 0 the plan takes the smallest x with g(x) >= 0 and ends. Otherwise no reduction of this
position suffices: it is closed whole if that raises g (frees more margin than its slippage
costs), left alone if not, and the next position is taken. No plan (None) when the equity is
<= 0, when the positions run out first, or when every position would be closed whole. A
position without a mark or without levels on its side cannot be priced and is left out.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from risk.kernels.accounts import Table, table_tier
from risk.kernels.depth_fills import Books, close_cost

PLAN_MARGIN = 1e-9  # a plan leaves the ratio at most margin_call * (1 - PLAN_MARGIN)
SEARCH_STEPS = 200  # at most this many steps of a search (each stops at its resolution)
MAXIMUM_RESOLUTION = 1e-12  # the search for g >= 0 narrows to this fraction of the position
ROOT_TOLERANCE = 1e-15  # a crossing is taken once 0 <= g <= this fraction of T * E + MM
BOUNDARY = 1e-9  # a root below this fraction of v_M is taken as P = 0 or inf (no root)
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0

Positions = tuple[
    NDArray[np.int32],  # symbol
    NDArray[np.int8],  # side (position_side)
    NDArray[np.float64],  # size
    NDArray[np.float64],  # mark, NaN for none
    NDArray[np.float64],  # maintenance margin
]
Market = tuple[Positions, Table, Books]  # the positions, the instrument table and the books
Plans = tuple[
    NDArray[np.float64],  # effective bankruptcy price per position, NaN for none
    NDArray[np.float64],  # contracts closed by the plan, 0 for none
    NDArray[np.float64],  # expected fill price
    NDArray[np.float64],  # slippage
    NDArray[np.int64],  # place in the plan (0 first), -1 when not in it
    NDArray[np.bool_],  # per account: a plan exists
]


@njit(cache=True)
def liquidation_plans(
    spans: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]],
    positions: Positions,
    equity: NDArray[np.float64],
    table: Table,
    books: Books,
    threshold: float,
) -> Plans:
    """Effective bankruptcy prices and plans of accounts j, whose positions (canonical order)
    are rows order[starts[j]:ends[j]] of `positions` (`spans` = (starts, ends, order))."""
    starts, ends, order = spans
    count = len(positions[0])
    effective = np.full(count, np.nan)
    closing, fill, slippage = np.zeros(count), np.full(count, np.nan), np.zeros(count)
    rank = np.full(count, -1, dtype=np.int64)
    planned = np.zeros(len(equity), dtype=np.bool_)
    for account in range(len(equity)):
        rows = order[starts[account] : ends[account]]
        costs = _full_close_costs(rows, positions, table, books)
        _effective_prices(rows, positions, table, (equity[account], costs), effective)
        planned[account] = _plan(
            rows, positions, table, books, (equity[account], threshold),
            (closing, fill, slippage, rank),
        )  # fmt: skip
    return effective, closing, fill, slippage, rank, planned


@njit(cache=True)
def _full_close_costs(
    rows: NDArray[np.int64], positions: Positions, table: Table, books: Books
) -> NDArray[np.float64]:
    """The cost of closing each position whole at its mark; NaN where it cannot be priced."""
    costs = np.full(len(rows), np.nan)
    for index in range(len(rows)):
        side = _book_side(rows[index], positions, books)
        if side >= 0:
            row = rows[index]
            code = positions[0][row]
            instrument = (table[0][code], table[1][code])
            quantity = abs(positions[2][row])
            costs[index] = close_cost(books, side, quantity, positions[3][row], instrument)[0]
    return costs


@njit(cache=True)
def _book_side(row: int, positions: Positions, books: Books) -> int:
    """The side of the book closing this position fills on, or -1 when it cannot be priced
    (no mark, no snapshot, or no level on that side)."""
    code, size, mark = positions[0][row], positions[2][row], positions[3][row]
    if np.isnan(mark) or not books[0][code]:
        return -1
    side: int = 2 * code + (0 if size > 0.0 else 1)
    if books[1][side] == books[1][side + 1]:
        return -1
    return side


@njit(cache=True)
def _effective_prices(
    rows: NDArray[np.int64],
    positions: Positions,
    table: Table,
    money: tuple[float, NDArray[np.float64]],
    effective: NDArray[np.float64],
) -> None:
    """v_e = (A*v_M - E) / (A - k) per position (module docstring), into `effective`."""
    equity, costs = money
    symbol, size, mark = positions[0], positions[2], positions[3]
    for index in range(len(rows)):
        if np.isnan(costs[index]):
            continue
        row = rows[index]
        code, price = symbol[row], mark[row]
        if equity - costs[index] <= 0.0:
            effective[row] = price
            continue
        linear, contract_size = table[0][code], table[1][code]
        exposure = 0.0
        for other in rows:
            if symbol[other] == code:
                exposure += size[other] * contract_size
        at_mark = price if linear else 1.0 / price
        if not linear:
            exposure = -exposure
        slope = exposure - costs[index] / at_mark
        if slope == 0.0:
            continue
        root = (exposure * at_mark - equity) / slope
        if root > BOUNDARY * at_mark:
            effective[row] = root if linear else 1.0 / root


@njit(cache=True)
def position_maintenance(table: Table, code: int, quantity: float, mark: float) -> float:
    """MM = N * mmr_k - cum_k of `quantity` contracts at `mark`, k the tier of the notional N."""
    notional = quantity * table[1][code] * (mark if table[0][code] else 1.0 / mark)
    first = table[3][code]
    tier = first + table_tier(table[5], first, table[4][code], notional)
    maintenance: float = notional * table[6][tier] - table[7][tier]
    return maintenance


@njit(cache=True)
def _plan(
    rows: NDArray[np.int64],
    positions: Positions,
    table: Table,
    books: Books,
    limits: tuple[float, float],
    out: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]],
) -> bool:
    """The plan of one account (module docstring) into `out` = (closing, fill, slippage, rank);
    whether there is one (when not, `out` is left as it was)."""
    equity, threshold = limits
    if equity <= 0.0 or not len(rows):
        return False
    maintenance = 0.0
    for row in rows:
        maintenance += positions[4][row]
    target = threshold * (1.0 - PLAN_MARGIN)
    if target * equity - maintenance >= 0.0:
        return True  # already below: nothing to reduce
    ranked = rows[np.argsort(-positions[4][rows], kind="mergesort")]
    steps = np.empty((len(rows), 4))  # row, contracts, fill, cost
    taken, whole = 0, 0
    for row in ranked:
        side = _book_side(row, positions, books)
        if side < 0:
            continue
        code = positions[0][row]
        problem = (
            target, equity, maintenance - position_maintenance(
                table, code, abs(positions[2][row]), positions[3][row]
            ),
        )  # fmt: skip
        contracts, enough = _reduction((row, side), (positions, table, books), problem)
        if contracts > 0.0:
            cost, average = close_cost(
                books, side, contracts, positions[3][row], (table[0][code], table[1][code])
            )
            steps[taken, 0], steps[taken, 1] = row, contracts
            steps[taken, 2], steps[taken, 3] = average, cost
            taken += 1
            whole += contracts == abs(positions[2][row])
            equity -= cost
            maintenance = problem[2] + position_maintenance(
                table, code, abs(positions[2][row]) - contracts, positions[3][row]
            )
        if enough:
            if whole == len(rows):
                return False
            _write_steps(steps[:taken], out)
            return True
    return False


@njit(cache=True)
def _write_steps(
    steps: NDArray[np.float64],
    out: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]],
) -> None:
    closing, fill, slippage, rank = out
    for place in range(len(steps)):
        row = int(steps[place, 0])
        closing[row], fill[row], slippage[row] = steps[place, 1], steps[place, 2], steps[place, 3]
        rank[row] = place


@njit(cache=True)
def _reduction(
    leg: tuple[int, int],
    market: Market,
    problem: tuple[float, float, float],
) -> tuple[float, bool]:
    """(x, enough): the smallest x with g(x) >= 0 and True; when there is none, (q, False) if
    closing the position whole raises g, else (0, False). `problem` = (T * (1 - PLAN_MARGIN),
    E', MM' - MM_i(q)). When the whole close suffices the crossing lies below q; otherwise a
    point where g >= 0 (`_reach`) bounds it, and without one no reduction suffices."""
    quantity = abs(market[0][2][leg[0]])
    start = _gap(0.0, leg, market, problem)
    best = quantity
    best_value = _gap(quantity, leg, market, problem)
    if best_value < 0.0:
        whole = best_value
        if problem[0] * problem[1] - problem[2] > 0.0:  # g <= T*E' - (MM' - MM_i(q)): can reach 0
            best, best_value = _reach((start, whole), leg, market, problem)
        if best_value < 0.0:
            return (quantity if whole > start else 0.0), False
    return _crossing((0.0, start), (best, best_value), leg, market, problem), True


@njit(cache=True)
def _reach(
    ends: tuple[float, float],
    leg: tuple[int, int],
    market: Market,
    problem: tuple[float, float, float],
) -> tuple[float, float]:
    """(x, g(x)) with g(x) >= 0 if there is such an x in [0, q], else a point with g < 0.

    Golden-section search for the maximum of the concave g (`ends` = (g(0), g(q))), which
    stops at the first point with g >= 0, or once concavity proves the maximum < 0: with four
    points p0 < p1 < p2 < p3 of the bracket, g lies below the line through p1 and p2 outside
    [p1, p2], and below both the line through p0, p1 and that through p2, p3 inside it."""
    row, positions = leg[0], market[0]
    quantity = abs(positions[2][row])
    low, high = 0.0, quantity
    low_end, high_end = ends
    inner_low, inner_high = high - GOLDEN * quantity, GOLDEN * quantity
    value_low = _gap(inner_low, leg, market, problem)
    value_high = _gap(inner_high, leg, market, problem)
    for _ in range(SEARCH_STEPS):
        if value_low >= 0.0:
            return inner_low, value_low
        if value_high >= 0.0:
            return inner_high, value_high
        points = (low, inner_low, inner_high, high)
        values = (low_end, value_low, value_high, high_end)
        if high - low <= MAXIMUM_RESOLUTION * quantity or _bound(points, values) < 0.0:
            break
        if value_low < value_high:
            low, low_end = inner_low, value_low
            inner_low, value_low = inner_high, value_high
            inner_high = low + GOLDEN * (high - low)
            value_high = _gap(inner_high, leg, market, problem)
        else:
            high, high_end = inner_high, value_high
            inner_high, value_high = inner_low, value_low
            inner_low = high - GOLDEN * (high - low)
            value_low = _gap(inner_low, leg, market, problem)
    if value_low >= value_high:
        return inner_low, value_low
    return inner_high, value_high


@njit(cache=True)
def _bound(
    points: tuple[float, float, float, float], values: tuple[float, float, float, float]
) -> float:
    """An upper bound of a concave function on [p0, p3] from its values at p0 < p1 < p2 < p3."""
    p0, p1, p2, p3 = points
    g0, g1, g2, g3 = values
    middle = (g2 - g1) / (p2 - p1)
    outer = max(g1 + middle * (p0 - p1), g1, g2, g2 + middle * (p3 - p2))
    left = (g1 - g0) / (p1 - p0) if p1 > p0 else np.inf
    right = (g3 - g2) / (p3 - p2) if p3 > p2 else -np.inf
    if not left > right:
        return np.inf  # rounding broke concavity: no bound
    meet = (g2 - g1 + left * p1 - right * p2) / (left - right)  # where the two lines cross
    meet = min(max(meet, p1), p2)
    return max(outer, min(g1 + left * (meet - p1), g2 + right * (meet - p2)))


@njit(cache=True)
def _crossing(
    below: tuple[float, float],
    above: tuple[float, float],
    leg: tuple[int, int],
    market: Market,
    problem: tuple[float, float, float],
) -> float:
    """The smallest x with g(x) >= 0, from a bracket (x, g) with g < 0 `below` and g >= 0
    `above`. Steps alternate between the chord's root (on a concave g the chord lies below g,
    so the chord's root is always >= 0 and exact where g is linear, as it is between book
    levels and tiers) and the middle (so the bracket at least halves every two steps); they
    stop once g is within ROOT_TOLERANCE of the problem's scale above 0."""
    (low, low_value), (high, high_value) = below, above
    scale = problem[0] * problem[1] + problem[2]
    row, positions = leg[0], market[0]
    quantity = abs(positions[2][row])
    for step in range(SEARCH_STEPS):
        if high_value <= ROOT_TOLERANCE * scale or high - low <= 1e-15 * quantity:
            break
        middle = (low + high) / 2.0
        if step % 2 == 0:
            chord = low - low_value * (high - low) / (high_value - low_value)
            if low < chord < high:
                middle = chord
        value = _gap(middle, leg, market, problem)
        if value >= 0.0:
            high, high_value = middle, value
        else:
            low, low_value = middle, value
    return high


@njit(cache=True)
def _gap(
    contracts: float,
    leg: tuple[int, int],
    market: Market,
    problem: tuple[float, float, float],
) -> float:
    """g(x) of the module docstring, for x = `contracts`."""
    (row, side), (positions, table, books) = leg, market
    target, equity, other_maintenance = problem
    code, mark = positions[0][row], positions[3][row]
    quantity = abs(positions[2][row])
    cost = 0.0
    if contracts > 0.0:
        cost = close_cost(books, side, contracts, mark, (table[0][code], table[1][code]))[0]
    left = position_maintenance(table, code, quantity - contracts, mark)
    return target * (equity - cost) - (other_maintenance + left)
