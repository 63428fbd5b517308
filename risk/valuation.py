"""Position valuation, linear and inverse (SPEC §4), for one position or a whole symbol block.

With q = |size|, cs = contract size, P = valuation price (mark, or entry price without a mark),
EP = entry price:

    linear    notional = q*cs*P     uPnL = (P - EP)*size*cs
    inverse   notional = q*cs/P     uPnL = (1/EP - 1/P)*size*cs
    maintenance margin = notional*mmr_k - cum_k,  k = tier of the notional

Notional and margin are in the settle asset. The scalar and the vector form perform the same
floating-point operations in the same order, so they give identical numbers; the vector form
works in place to spare temporaries (each 1M-row temporary costs a page-faulting allocation).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from risk.instruments import Instrument

FloatArray = NDArray[np.float64]


class Value(NamedTuple):
    notional: float
    unrealized_pnl: float
    maintenance: float
    tier: int


def notional_of(instrument: Instrument, size: float, price: float) -> float:
    """q*cs*P (linear) or q*cs/P (inverse)."""
    if instrument.kind == "linear":
        return abs(size) * instrument.contract_size * price
    return abs(size) * instrument.contract_size / price


def value_position(instrument: Instrument, size: float, entry: float, price: float) -> Value:
    """Notional, unrealized PnL, maintenance margin and tier of one position."""
    contract_size = instrument.contract_size
    if instrument.kind == "linear":
        notional = abs(size) * contract_size * price
        pnl = (price - entry) * size * contract_size
    else:
        notional = abs(size) * contract_size / price
        pnl = (1.0 / entry - 1.0 / price) * size * contract_size
    tiers = instrument.tiers
    tier = tiers.tier(notional)
    return Value(notional, pnl, notional * tiers.mmrs[tier] - tiers.cums[tier], tier)


def value_block(
    instrument: Instrument,
    size: FloatArray,
    entry: FloatArray,
    price: float | FloatArray,
    tier: NDArray[np.int16],
    *,
    retier: bool,
) -> tuple[FloatArray, FloatArray]:
    """Unrealized PnL and maintenance margin of many positions of one instrument.

    `tier` holds each position's previous tier and is updated in place. Between ticks almost no
    position changes tier, so only those whose notional left (floor_k, cap_k] are looked up again;
    `retier=True` (new tier table) looks every position up.
    """
    contract_size = instrument.contract_size
    notional = np.abs(size)
    notional *= contract_size
    if instrument.kind == "linear":
        notional *= price
        pnl = np.subtract(price, entry)
    else:
        notional /= price
        pnl = np.divide(1.0, entry)
        pnl -= np.divide(1.0, price)
    pnl *= size
    pnl *= contract_size
    tiers = instrument.tiers
    if retier:
        tier[:] = tiers.tiers_of(notional)
    elif tiers.caps:
        index = tier.astype(np.intp)
        moved = (notional <= tiers.floor_array[index]) | (notional > tiers.upper_array[index])
        if moved.any():
            tier[moved] = tiers.tiers_of(notional[moved])
    index = tier.astype(np.intp)
    maintenance = tiers.mmr_array[index]
    maintenance *= notional
    maintenance -= tiers.cum_array[index]
    return pnl, maintenance
