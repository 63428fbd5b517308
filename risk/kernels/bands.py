"""Price bands: where a margin account's level cannot change (docs/ENGINE.md).

Write v = P (linear) or v = 1/P (inverse). While no leg of the account changes tier, both its
equity and its maintenance margin are linear in v around the valuation point v0:

    E(v) = E0 + X*(v - v0),   X = sum_i size_i*cs (linear) or -sum_i size_i*cs (inverse)
    M(v) = M0 + G*(v - v0),   G = sum_i mmr_{k_i}*q_i*cs  (q_i = |size_i|)

and leg i keeps its tier k_i while v lies in (cap_{k-1}, cap_k] / (q_i*cs). The level L
(SPEC §5) holds while every one of these linear conditions holds:

    bankrupt         -E(v) >= 0
    below bankrupt    E(v) > 0
    below liquidation t_{L+1}*E(v) - M(v) > 0          (no escalation)
    above safe        M(v) + (h - t_L)*E(v) >= 0       (no de-escalation: r + h >= t_L)

Each condition a + b*(v - v0) must keep a margin eps = BAND_MARGIN * scale, where scale bounds
the magnitude of every term the exact sums add (so the rounding of an exact recompute, and
the drift of the running totals, stay far inside it). The band is the intersection, an open
interval of prices; it is stored rounded inwards to float32 on every row of the account.

Several symbols. For an account holding n symbols, E and M are sums of one term per symbol,
each linear in that symbol's v_s alone, so each condition reads
a + sum_s b_s*(v_s - v0_s) > eps. Symbol s gets the band where b_s*(v_s - v0_s) > -(a - eps)/n:
while every symbol stays in its own band the sum keeps its margin, whichever way and in
whichever order the marks move. The bands hold together only: when one symbol leaves its
band, the account is valued afresh at every mark and all its bands are set again
(`risk.engine.joint`).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

BANKRUPT_LEVEL = 4
BAND_MARGIN = 1e-9  # relative to the scale of the account's terms
TIER_MARGIN = 1e-9  # relative shrink of a tier's interval in v


@njit(cache=True, inline="always")
def _tighten(
    low: float, high: float, value: float, slope: float, v0: float, margins: tuple[float, float]
) -> tuple[float, float]:
    """Intersect (low, high) with {v : slope*(v - v0) > -(value - margin)*share}, `margins` =
    (margin, share); empty gives (1, 0). With share 1 that is value + slope*(v - v0) > margin."""
    margin, share = margins
    room = (value - margin) * share
    if room <= 0.0:
        return 1.0, 0.0
    if slope > 0.0:
        low = max(low, v0 - room / slope)
    elif slope < 0.0:
        high = min(high, v0 + room / -slope)
    return low, high


@njit(cache=True, inline="always")
def level_band_v(
    level: int,
    money: tuple[float, float],
    slopes: tuple[float, float],
    v0: float,
    tier_interval: tuple[float, float],
    scale: float,
    limits: tuple[float, float],
    share: float,
) -> tuple[float, float]:
    """The band in v inside `tier_interval`; (1, 0) when empty.

    `money` = (E0, M0) at v0, `slopes` = (X, G), `limits` = (t_{L+1}, h - t_L) from
    `level_limits`: NaN where the level has no such threshold. Floats only: an array passed
    in would be reference-counted on every call. `share` (1/n for an account holding n
    symbols) is the part of each condition's room this symbol may use up (see the module
    docstring, "Several symbols").
    """
    equity, maintenance = money
    exposure, gradient = slopes
    ceiling, floor = limits
    low, high = tier_interval
    margin = (BAND_MARGIN * scale, share)
    if level == BANKRUPT_LEVEL:
        return _tighten(low, high, -equity, -exposure, v0, margin)
    low, high = _tighten(low, high, equity, exposure, v0, margin)
    if not np.isnan(ceiling):
        low, high = _tighten(
            low, high, ceiling * equity - maintenance, ceiling * exposure - gradient, v0, margin
        )
    if not np.isnan(floor):
        low, high = _tighten(
            low, high, maintenance + floor * equity, gradient + floor * exposure, v0, margin
        )
    return low, high


@njit(cache=True)
def level_limits(bounds: NDArray[np.float64], hysteresis: float) -> NDArray[np.float64]:
    """Per level L: (t_{L+1}, h - t_L), NaN where there is none (the bankrupt level has none)."""
    limits = np.full((BANKRUPT_LEVEL + 1, 2), np.nan)
    for level in range(BANKRUPT_LEVEL):
        if level < len(bounds):
            limits[level, 0] = bounds[level]
        if 0 < level <= len(bounds):
            limits[level, 1] = hysteresis - bounds[level - 1]
    return limits


@njit(cache=True, inline="always")
def price_band(linear: bool, low: float, high: float) -> tuple[np.float32, np.float32]:
    """The band in price from the band in v, rounded inwards to float32; empty: (inf, -inf)."""
    if not low < high:
        return np.float32(np.inf), np.float32(-np.inf)
    if linear:
        price_low, price_high = low, high
    else:
        price_low = 1.0 / high
        price_high = np.inf if low <= 0.0 else 1.0 / low
    narrow_low, narrow_high = np.float32(price_low), np.float32(price_high)
    if narrow_low < price_low:
        narrow_low = np.nextafter(narrow_low, np.float32(np.inf))
    if narrow_high > price_high:
        narrow_high = np.nextafter(narrow_high, np.float32(-np.inf))
    return narrow_low, narrow_high
