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
(ties: the lower price). No root in (0, inf) gives None.

For a single one-way leg this reduces to SPEC §6's closed forms, e.g. linear
P = (E_o - M_o + cum_k - size*cs*EP) / (cs*(q*mmr_k - size)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, NamedTuple

from risk.instruments import Instrument

LIQUIDATION: Final = 1.0
BANKRUPTCY: Final = 0.0
_SEGMENT_TOLERANCE: Final = 1e-12


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
    """The mark at which f(v) = 0 nearest `reference_price`; `weight` is c above (1 or 0)."""
    slope, intercept = _first_segment(instrument, legs, other_equity, other_maintenance, weight)
    steps = _breakpoints(instrument, legs, weight)
    best: float | None = None
    lower = 0.0
    for breakpoint, slope_step, intercept_step in steps:
        best = _nearer(
            best, _segment_root(slope, intercept, lower, breakpoint), instrument, reference_price
        )
        slope += slope_step
        intercept += intercept_step
        lower = breakpoint
    return _nearer(
        best, _segment_root(slope, intercept, lower, math.inf), instrument, reference_price
    )


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
    tiers = instrument.tiers
    steps: list[tuple[float, float, float]] = []
    for leg in legs:
        quantity = abs(leg.size) * instrument.contract_size
        for index, cap in enumerate(tiers.caps):
            mmr_step = tiers.mmrs[index + 1] - tiers.mmrs[index]
            cum_step = tiers.cums[index + 1] - tiers.cums[index]
            steps.append((cap / quantity, -weight * quantity * mmr_step, weight * cum_step))
    steps.sort()
    return steps


def _segment_root(slope: float, intercept: float, lower: float, upper: float) -> float | None:
    """v with slope*v + intercept = 0 inside [lower, upper] and v > 0, else None."""
    if slope == 0.0:
        return None
    root = -intercept / slope
    tolerance = _SEGMENT_TOLERANCE * max(1.0, abs(root))
    if root <= 0.0 or root < lower - tolerance or root > upper + tolerance:
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
