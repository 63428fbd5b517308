"""Liquidation map (SPEC §8): notional whose liquidation price lies in each 1% band of the mark.

Band k (k = -10..9) holds distance d = liquidation price / mark - 1 in [k/100, (k+1)/100);
notional is at the mark, split by side (long: size > 0). Symbols without a mark have no map.

Liquidation prices are SPEC §6's: risk/prices.py's segment walk, vectorized over every group
of legs (an account's positions in one symbol: one, or a hedge mode's long and short) with the
same number of legs in the same symbol. For a single leg, with E_o, M_o the equity and
maintenance margin of the rest of the account, the root in tier k is SPEC §6's closed form,
linear P_k = (E_o - M_o + cum_k - s*cs*EP) / (cs*(q*mmr_k - s)).
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from risk.fund.exposure import Exposure, FloatArray, sum_by
from risk.instruments import Instrument
from risk.prices import BOUNDARY, SEGMENT_TOLERANCE

BANDS: Final = tuple(range(-10, 10))


def liquidation_map(exposure: Exposure, instruments: list[Instrument]) -> dict[str, FloatArray]:
    """Per symbol with a mark and open positions: (20 bands x [long, short]) notional."""
    price = liquidation_prices(exposure, instruments)
    mark = exposure.mark[exposure.position_symbol]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
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
    """SPEC §6 liquidation price of every position (NaN when there is none).

    The legs of one account in one symbol share a price; the groups of a symbol with the same
    number of legs are solved together by `_walk`.
    """
    result = np.full(len(exposure.size), np.nan)
    if not len(result):
        return result
    pair = exposure.position_account * len(exposure.symbols) + exposure.position_symbol
    order = np.argsort(pair, kind="stable")
    starts = np.flatnonzero(np.r_[True, pair[order][1:] != pair[order][:-1]])
    legs = np.diff(np.r_[starts, len(order)])
    first = order[starts]
    owner, symbol = exposure.position_account[first], exposure.position_symbol[first]
    group = np.repeat(np.arange(len(starts)), legs)
    equity, maintenance = exposure.equity(), exposure.account_maintenance()
    free = (equity[owner] - sum_by(group, exposure.pnl[order])) - (
        maintenance[owner] - sum_by(group, exposure.maintenance[order])
    )
    for count in np.unique(legs).tolist():
        for chosen in _groups(symbol, np.flatnonzero(legs == count)):
            table = order[starts[chosen][:, None] + np.arange(count)[None, :]]
            instrument = instruments[int(symbol[chosen[0]])]
            found = _walk(instrument, exposure, table, free[chosen])
            result[table] = found[:, None]
    return result


def _walk(
    instrument: Instrument, exposure: Exposure, table: NDArray[np.intp], free: FloatArray
) -> FloatArray:
    """Vectorized `risk.prices.solve_price` (weight 1) for groups of legs (rows of `table`).

    f(v) = free + sum_i (uPnL_i(v) - MM_i(v)) with v = P (linear) or 1/P (inverse) starts with
    every leg in tier 0 and changes slope and intercept at each leg's caps; the breakpoints of
    each group are walked in order and every segment's root that lies in it is a candidate.
    """
    size, entry = exposure.size[table], exposure.entry[table]
    reference = exposure.price[table[:, 0]]
    contract_size = instrument.contract_size
    exposure_size = size * contract_size
    quantity = np.abs(exposure_size)
    tiers = instrument.tiers
    linear = instrument.kind == "linear"
    if linear:
        slope = exposure_size.sum(axis=1)
        intercept = free - (exposure_size * entry).sum(axis=1)
        floor = BOUNDARY * reference
    else:
        slope = -exposure_size.sum(axis=1)
        intercept = free + (exposure_size / entry).sum(axis=1)
        floor = BOUNDARY / reference
    slope = slope - quantity.sum(axis=1) * tiers.mmrs[0]
    best = np.full(len(table), np.nan)
    lower, value = np.zeros(len(table)), intercept.copy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if tiers.caps:
            points, slope_steps, intercept_steps = _breakpoints(tiers.steps, quantity)
            for column in range(points.shape[1]):
                point = points[:, column]
                upper_value = slope * point + intercept
                crossing = (value > 0.0) != (upper_value > 0.0)
                root = _segment_root(slope, intercept, lower, floor)
                best = _nearer(best, np.where(crossing, _price(root, linear), np.nan), reference)
                slope = slope + slope_steps[:, column]
                intercept = intercept + intercept_steps[:, column]
                lower, value = point, upper_value
        root = _segment_root(slope, intercept, lower, floor)
        return _nearer(best, _price(root, linear), reference)


def _breakpoints(
    steps: tuple[tuple[float, float, float], ...], quantity: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per group, every (v, slope step, intercept step) where a leg crosses a cap, in order."""
    caps = np.array([cap for cap, _, _ in steps])
    mmr_steps = np.array([step for _, step, _ in steps])
    cum_steps = np.array([step for _, _, step in steps])
    legs = quantity.shape[1]
    points = (caps[None, None, :] / quantity[:, :, None]).reshape(len(quantity), -1)
    slopes = (-quantity[:, :, None] * mmr_steps[None, None, :]).reshape(len(quantity), -1)
    intercepts = np.broadcast_to(cum_steps, (len(quantity), legs, len(caps))).reshape(
        len(quantity), -1
    )
    order = np.lexsort((intercepts, slopes, points), axis=1) if legs > 1 else None
    if order is None:
        return points, slopes, intercepts
    rows = np.arange(len(quantity))[:, None]
    return points[rows, order], slopes[rows, order], intercepts[rows, order]


def _segment_root(
    slope: FloatArray, intercept: FloatArray, lower: FloatArray, floor: FloatArray
) -> FloatArray:
    """v > floor with slope * v + intercept = 0, at or past `lower` (less rounding); else NaN."""
    root = -intercept / slope
    valid = (
        (slope != 0.0)
        & (root > floor)
        & (root >= lower - SEGMENT_TOLERANCE * np.maximum(1.0, lower))
    )
    return np.where(valid, root, np.nan)


def _price(root: FloatArray, linear: bool) -> FloatArray:
    return root if linear else 1.0 / root


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
