"""Liquidation and bankruptcy prices, compiled (SPEC §6; the derivation is in `risk.prices`).

f(v) = E_o - c*M_o + sum_i (uPnL_i(v) - c*MM_i(v)) is piecewise linear in v (v = P linear,
v = 1/P inverse). `solve_price` walks its segments in increasing v: the first one has every
leg in tier 0, and at v = cap_j / (q_i*cs) leg i's tier step changes the slope by
-c*q_i*cs*(mmr_{j+1} - mmr_j) and the intercept by c*(cum_{j+1} - cum_j). Every segment
across which f changes sign has a candidate root; the price nearest the reference wins (ties:
the lower). NaN means none. This is the one implementation the engine solves with; the
reference in tests/ solves independently.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

SEGMENT_TOLERANCE = 1e-12
BOUNDARY = 1e-9

Tiers = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]
Legs = tuple[NDArray[np.float64], NDArray[np.float64]]


@njit(cache=True)
def solve_price(
    linear: bool,
    contract_size: float,
    tiers: Tiers,
    legs: Legs,
    money: tuple[float, float],
    weight: float,
    reference: float,
) -> float:
    """The mark at which f(v) = 0 nearest `reference`, or NaN; `weight` is c (1 or 0).

    `tiers` = (caps, mmrs, cums) with one cap fewer than mmrs; `legs` = (sizes, entry prices)
    of the account's positions in the symbol; `money` = (E_o, M_o) of everything else.
    """
    sizes, entries = legs
    caps, mmrs = tiers[0], tiers[1]
    slope = 0.0
    intercept = money[0] - weight * money[1]
    for leg in range(len(sizes)):
        exposure = sizes[leg] * contract_size
        if linear:
            slope += exposure
            intercept -= exposure * entries[leg]
        else:
            slope -= exposure
            intercept += exposure / entries[leg]
        slope -= weight * abs(exposure) * mmrs[0]
    floor = BOUNDARY * (reference if linear else 1.0 / reference)
    if weight == 0.0 or not len(caps):
        return _nearer(np.nan, _line_root(slope, intercept, 0.0, floor), linear, reference)
    points, slope_steps, intercept_steps = _breakpoints(contract_size, tiers, sizes, weight)
    best = np.nan
    lower, value = 0.0, intercept  # f(0)
    for index in range(len(points)):
        point = points[index]
        upper_value = slope * point + intercept
        if (value > 0.0) != (upper_value > 0.0):  # a root inside [lower, point]
            root = _line_root(slope, intercept, lower, floor)
            best = _nearer(best, root, linear, reference)
        slope += slope_steps[index]
        intercept += intercept_steps[index]
        lower, value = point, upper_value
    return _nearer(best, _line_root(slope, intercept, lower, floor), linear, reference)


@njit(cache=True)
def _breakpoints(
    contract_size: float, tiers: Tiers, sizes: NDArray[np.float64], weight: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(v, slope step, intercept step) of every leg's every cap, ordered by the triple."""
    caps, mmrs, cums = tiers
    count = len(sizes) * len(caps)
    points = np.empty(count)
    slope_steps = np.empty(count)
    intercept_steps = np.empty(count)
    index = 0
    for leg in range(len(sizes)):
        quantity = abs(sizes[leg]) * contract_size
        for cap in range(len(caps)):
            points[index] = caps[cap] / quantity
            slope_steps[index] = -weight * quantity * (mmrs[cap + 1] - mmrs[cap])
            intercept_steps[index] = weight * (cums[cap + 1] - cums[cap])
            index += 1
    if len(sizes) > 1:
        _sort_triples(points, slope_steps, intercept_steps)
    return points, slope_steps, intercept_steps


@njit(cache=True)
def _sort_triples(
    first: NDArray[np.float64], second: NDArray[np.float64], third: NDArray[np.float64]
) -> None:
    """Sort the three columns together by (first, second, third), in place (insertion sort:
    a few legs times a few caps)."""
    for index in range(1, len(first)):
        key = (first[index], second[index], third[index])
        slot = index
        while slot > 0 and key < (first[slot - 1], second[slot - 1], third[slot - 1]):
            first[slot], second[slot], third[slot] = (
                first[slot - 1],
                second[slot - 1],
                third[slot - 1],
            )
            slot -= 1
        first[slot], second[slot], third[slot] = key


@njit(cache=True, inline="always")
def _line_root(slope: float, intercept: float, lower: float, floor: float) -> float:
    """v > floor with slope*v + intercept = 0, at or past `lower` (less a rounding tolerance)."""
    if slope == 0.0:
        return np.nan
    root = -intercept / slope
    if root <= floor or root < lower - SEGMENT_TOLERANCE * max(1.0, lower):
        return np.nan
    return root


@njit(cache=True, inline="always")
def _nearer(best: float, root: float, linear: bool, reference: float) -> float:
    """Keep the price nearer the reference (ties: the lower price); NaN is none."""
    if np.isnan(root):
        return best
    price = root if linear else 1.0 / root
    if np.isnan(best):
        return price
    distance, best_distance = abs(price - reference), abs(best - reference)
    if distance < best_distance or (distance == best_distance and price < best):
        return price
    return best
