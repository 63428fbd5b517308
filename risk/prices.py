"""Liquidation and bankruptcy prices (SPEC §6).

Hold every other symbol's mark fixed and move this symbol's mark P. With v = P for linear and
v = 1/P for inverse contracts, every leg i of the margin account in this symbol (q_i = |size_i|,
cs = contract size) contributes terms that are linear in v between tier breakpoints:

    linear    uPnL_i = size_i*cs*v - size_i*cs*EP_i         notional_i = q_i*cs*v
    inverse   uPnL_i = size_i*cs/EP_i - size_i*cs*v         notional_i = q_i*cs*v
    MM_i = notional_i*mmr_k - cum_k,   k = tier of notional_i, breakpoints at v = cap_j/(q_i*cs)

With E_o and M_o the equity and maintenance margin of everything else in the account,

    f(v) = E_o - c*M_o + sum_i (uPnL_i(v) - c*MM_i(v))

is piecewise linear: c = 1 gives the liquidation price (equity = MM, ratio 1), c = 0 the
bankruptcy price (equity = 0). Walking the sorted breakpoints, each tier step of leg i changes
the slope by -c*q_i*cs*(mmr_{j+1} - mmr_j) and the intercept by c*(cum_{j+1} - cum_j). The root
of each segment that lies inside it is a candidate; the price nearest the reference price wins
(ties: the lower price). No root in (0, inf) gives None. A root below BOUNDARY times the
reference's v is the root at v = 0 (P = 0 linear, P = inf inverse, e.g. a 1x inverse short's
bankruptcy) shifted by rounding, and counts as none. A segment is solved only where f
changes sign across it, and the last one, [last breakpoint, inf), where its line reaches zero.

For a single one-way leg this reduces to SPEC §6's closed forms, e.g. linear
P = (E_o - M_o + cum_k - size*cs*EP) / (cs*(q*mmr_k - size)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple

from risk.instruments import Instrument

LIQUIDATION: Final = 1.0
BANKRUPTCY: Final = 0.0
SEGMENT_TOLERANCE: Final = 1e-12
BOUNDARY: Final = 1e-9


class Leg(NamedTuple):
    """One position of the account in the solved symbol."""

    size: float
    entry_price: float


def solve_price(
    instrument: Instrument,
    legs: Sequence[Leg],
    *,
    other_equity: float,
    other_maintenance: float,
    weight: float,
    reference_price: float,
) -> float | None:
    """The mark at which f(v) = 0 nearest `reference_price`; `weight` is c above (1 or 0).

    With c = 0 the breakpoints change nothing, so f is one line and has one root. With c = 1,
    f is concave (linear PnL minus convex maintenance), so it has at most two roots.
    """
    slope, intercept = _first_segment(instrument, legs, other_equity, other_maintenance, weight)
    floor = BOUNDARY * (reference_price if instrument.kind == "linear" else 1.0 / reference_price)
    if weight == 0.0 or not instrument.tiers.caps:
        return _nearer(None, _line_root(slope, intercept, 0.0, floor), instrument, reference_price)
    best: float | None = None
    lower, value = 0.0, intercept  # f(0)
    for breakpoint, slope_step, intercept_step in _breakpoints(instrument, legs, weight):
        upper_value = slope * breakpoint + intercept
        if (value > 0.0) != (upper_value > 0.0):  # a root inside [lower, breakpoint]
            best = _nearer(
                best, _line_root(slope, intercept, lower, floor), instrument, reference_price
            )
        slope += slope_step
        intercept += intercept_step
        lower, value = breakpoint, upper_value
    return _nearer(best, _line_root(slope, intercept, lower, floor), instrument, reference_price)


def _first_segment(
    instrument: Instrument,
    legs: Sequence[Leg],
    other_equity: float,
    other_maintenance: float,
    weight: float,
) -> tuple[float, float]:
    """Slope and intercept of f on the first segment (every leg in tier 0, cum_0 = 0)."""
    contract_size = instrument.contract_size
    first_mmr = instrument.tiers.mmrs[0]
    slope = 0.0
    intercept = other_equity - weight * other_maintenance
    for leg in legs:
        exposure = leg.size * contract_size
        if instrument.kind == "linear":
            slope += exposure
            intercept -= exposure * leg.entry_price
        else:
            slope -= exposure
            intercept += exposure / leg.entry_price
        slope -= weight * abs(exposure) * first_mmr
    return slope, intercept


def _breakpoints(
    instrument: Instrument, legs: Sequence[Leg], weight: float
) -> list[tuple[float, float, float]]:
    """(v, slope step, intercept step) where a leg crosses a cap, in increasing v."""
    steps: list[tuple[float, float, float]] = []
    for leg in legs:
        quantity = abs(leg.size) * instrument.contract_size
        steps.extend(
            (cap / quantity, -weight * quantity * mmr_step, weight * cum_step)
            for cap, mmr_step, cum_step in instrument.tiers.steps
        )
    if len(legs) > 1:
        steps.sort()
    return steps


def _line_root(slope: float, intercept: float, lower: float, floor: float) -> float | None:
    """v > floor with slope*v + intercept = 0, at or past `lower` (less a rounding tolerance)."""
    if slope == 0.0:
        return None
    root = -intercept / slope
    if root <= floor or root < lower - SEGMENT_TOLERANCE * max(1.0, lower):
        return None
    return root


def _nearer(
    best: float | None, root: float | None, instrument: Instrument, reference_price: float
) -> float | None:
    """Keep the price nearer the reference (ties: the lower price)."""
    if root is None:
        return best
    price = root if instrument.kind == "linear" else 1.0 / root
    if best is None:
        return price
    distance, best_distance = abs(price - reference_price), abs(best - reference_price)
    if distance < best_distance or (distance == best_distance and price < best):
        return price
    return best
