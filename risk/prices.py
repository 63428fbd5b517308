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

The walk runs compiled in `risk.kernels.prices` (the records of a mark tick solve thousands of
accounts); `solve_price` here is its entry point for one account. For a single one-way leg
this reduces to SPEC §6's closed forms, e.g. linear
P = (E_o - M_o + cum_k - size*cs*EP) / (cs*(q*mmr_k - size)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, NamedTuple

import numpy as np

from risk.instruments import Instrument
from risk.kernels import prices

LIQUIDATION: Final = 1.0
BANKRUPTCY: Final = 0.0
SEGMENT_TOLERANCE: Final = prices.SEGMENT_TOLERANCE
BOUNDARY: Final = prices.BOUNDARY


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
    tiers = instrument.tiers
    price = prices.solve_price(
        instrument.kind == "linear",
        instrument.contract_size,
        (tiers.cap_array, tiers.mmr_array, tiers.cum_array),
        (
            np.array([leg.size for leg in legs], dtype=np.float64),
            np.array([leg.entry_price for leg in legs], dtype=np.float64),
        ),
        (other_equity, other_maintenance),
        weight,
        reference_price,
    )
    return None if math.isnan(price) else float(price)
