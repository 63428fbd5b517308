"""Liquidation map (SPEC §8): notional whose liquidation price lies in each 1% band of the mark.

Band k (k = -10..9) holds distance d = liquidation price / mark - 1 in [k/100, (k+1)/100);
notional is at the mark, split by side (long: size > 0). Symbols without a mark have no map.

Liquidation prices are SPEC §6's, vectorized for the usual case, a position that is its
account's only leg in its symbol. With E_o, M_o the equity and maintenance margin of the rest
of the account, n = s*cs and q = |s|, the root in tier k is

    linear   P_k = (E_o - M_o + cum_k - n*EP) / (cs*(q*mmr_k - s))
    inverse  P_k = cs*(s + q*mmr_k) / (E_o - M_o + cum_k + n/EP)

valid when the notional at P_k lies in tier k and P_k is above the solver's boundary; the valid
root nearest the mark wins (ties: the lower price), as in risk/prices.py. Several legs of one
symbol in one account (hedge mode in cross) go through `risk.prices.solve_price`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from risk.fund.exposure import Exposure, FloatArray, sum_by
from risk.instruments import Instrument
from risk.prices import BOUNDARY, LIQUIDATION, Leg, solve_price

BANDS: Final = tuple(range(-10, 10))


def liquidation_map(exposure: Exposure, instruments: list[Instrument]) -> dict[str, FloatArray]:
    """Per symbol with a mark and open positions: (20 bands x [long, short]) notional."""
    price = liquidation_prices(exposure, instruments)
    mark = exposure.mark[exposure.position_symbol]
    with np.errstate(invalid="ignore", divide="ignore"):
        band = np.floor((price / mark - 1.0) * 100.0)
    inside = np.isfinite(band) & (band >= BANDS[0]) & (band <= BANDS[-1])
    notional = exposure.notional()
    result = {}
    for rows in _groups(exposure.position_symbol, np.arange(len(band))):
        symbol = int(exposure.position_symbol[rows[0]])
        if not np.isfinite(exposure.mark[symbol]):
            continue
        chosen = rows[inside[rows]]
        cell = (band[chosen].astype(np.intp) - BANDS[0]) * 2 + (exposure.size[chosen] < 0.0)
        sums = sum_by(cell, notional[chosen], 2 * len(BANDS))
        result[exposure.symbols[symbol]] = sums.reshape(len(BANDS), 2)
    return result


def liquidation_prices(exposure: Exposure, instruments: list[Instrument]) -> FloatArray:
    """SPEC §6 liquidation price of every position (NaN when there is none)."""
    pair = exposure.position_account * len(exposure.symbols) + exposure.position_symbol
    _, pair_index, legs = np.unique(pair, return_inverse=True, return_counts=True)
    equity, maintenance = exposure.equity(), exposure.account_maintenance()
    pair_pnl = sum_by(pair_index, exposure.pnl)
    pair_maintenance = sum_by(pair_index, exposure.maintenance)
    owner = exposure.position_account
    free = (equity[owner] - pair_pnl[pair_index]) - (
        maintenance[owner] - pair_maintenance[pair_index]
    )
    result = np.full(len(exposure.size), np.nan)
    single = legs[pair_index] == 1
    for rows in _groups(exposure.position_symbol, np.flatnonzero(single)):
        instrument = instruments[int(exposure.position_symbol[rows[0]])]
        result[rows] = _single_leg(instrument, exposure, rows, free[rows])
    for rows in _groups(pair_index, np.flatnonzero(~single)):
        result[rows] = _several_legs(instruments, exposure, rows, free[rows[0]])
    return result


def _single_leg(
    instrument: Instrument, exposure: Exposure, rows: NDArray[np.intp], free: FloatArray
) -> FloatArray:
    size, entry, reference = exposure.size[rows], exposure.entry[rows], exposure.price[rows]
    contract_size = instrument.contract_size
    quantity = np.abs(size)
    tiers = instrument.tiers
    best = np.full(len(rows), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        for tier, (mmr, cum) in enumerate(zip(tiers.mmrs, tiers.cums, strict=True)):
            if instrument.kind == "linear":
                candidate = (free + cum - size * contract_size * entry) / (
                    contract_size * (quantity * mmr - size)
                )
                notional = quantity * contract_size * candidate
                above_boundary = candidate > BOUNDARY * reference
            else:
                candidate = (contract_size * (size + quantity * mmr)) / (
                    free + cum + size * contract_size / entry
                )
                notional = quantity * contract_size / candidate
                above_boundary = 1.0 / candidate > BOUNDARY / reference
            valid = (
                np.isfinite(candidate)
                & (candidate > 0.0)
                & above_boundary
                & (notional > tiers.floor_array[tier])
                & (notional <= tiers.upper_array[tier])
            )
            best = _nearer(best, np.where(valid, candidate, np.nan), reference)
    return best


def _nearer(best: FloatArray, candidate: FloatArray, reference: FloatArray) -> FloatArray:
    """Elementwise: the price nearer the reference (ties: the lower), NaN for none."""
    distance, best_distance = np.abs(candidate - reference), np.abs(best - reference)
    take = np.isfinite(candidate) & (
        ~np.isfinite(best)
        | (distance < best_distance)
        | ((distance == best_distance) & (candidate < best))
    )
    return np.where(take, candidate, best)


def _groups(key: NDArray[np.intp], rows: NDArray[np.intp]) -> list[NDArray[np.intp]]:
    if not len(rows):
        return []
    rows = rows[np.argsort(key[rows], kind="stable")]
    return np.split(rows, np.flatnonzero(np.diff(key[rows])) + 1)


def _several_legs(
    instruments: list[Instrument], exposure: Exposure, rows: NDArray[np.intp], free: float
) -> float:
    """All legs of one symbol in one account share one liquidation price."""
    symbol = int(exposure.position_symbol[rows[0]])
    legs = [Leg(float(exposure.size[row]), float(exposure.entry[row])) for row in rows.tolist()]
    price = solve_price(
        instruments[symbol],
        legs,
        other_equity=free,
        other_maintenance=0.0,
        weight=LIQUIDATION,
        reference_price=float(exposure.price[rows[0]]),
    )
    return np.nan if price is None else price
