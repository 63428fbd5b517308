"""Taking from an ADL queue without sorting it (risk/fund/allocation.py, docs/FUND.md "Loss
allocation"): the entries of one (side, symbol) queue at one shock, best score first, at equal
scores the larger position first, until their contracts reach the need. A histogram of the
scores finds the bin where the need is reached, refined until few entries are left: linear
in the queue for most books; only the entries of the last bin are sorted.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
MET = 1e-9  # a need is met when what is left of it is below this fraction (rounding)
_ROUNDS = 8  # histogram rounds before the rest is sorted
_SORTED = 64  # entries few enough to sort


@njit(cache=True, nogil=True)
def taken_totals(
    scores: FloatArray, sizes: FloatArray, notional: FloatArray, offsets: NDArray[np.intp],
    need: FloatArray,
) -> FloatArray:  # fmt: skip
    """3 (positions, contracts, notional) x cells: what each cell's queue (entries
    offsets[c]:offsets[c + 1]) gives for `need` when it is the whole queue."""
    cells = len(offsets) - 1
    totals = np.zeros((3, cells))
    for cell in range(cells):
        first, last = int(offsets[cell]), int(offsets[cell + 1])
        if last > first and need[cell] > 0.0:
            entries = (scores[first:last], sizes[first:last], notional[first:last])
            count, held, value, _ = walk(entries, need[cell])
            totals[0, cell], totals[1, cell], totals[2, cell] = count, held, value
    return totals


@njit(cache=True, nogil=True)
def kept(
    scores: FloatArray, sizes: FloatArray, notional: FloatArray, offsets: NDArray[np.intp],
    need: FloatArray,
) -> NDArray[np.bool_]:  # fmt: skip
    """Which entries can be among the first to reach their cell's need, whatever other
    processes hold: those scoring at least as well as the last entry this process's own
    queue takes (all of them when it holds no more than the need)."""
    keep = np.zeros(len(scores), dtype=np.bool_)
    for cell in range(len(offsets) - 1):
        first, last = int(offsets[cell]), int(offsets[cell + 1])
        if last > first and need[cell] > 0.0:
            entries = (scores[first:last], sizes[first:last], notional[first:last])
            _, _, _, lowest = walk(entries, need[cell])
            keep[first:last] = scores[first:last] >= lowest
    return keep


@njit(cache=True, nogil=True)
def walk(
    entries: tuple[FloatArray, FloatArray, FloatArray], need: float
) -> tuple[float, float, float, float]:
    """(positions, contracts, notional, lowest score taken) of one queue's entries taken for
    `need`: best score first, at equal scores the larger position first, the last one partly,
    until less than MET of the need is left. Whole bins of a score histogram are taken at
    once; only the entries of the bin where the need is reached are sorted."""
    scores, sizes, notional = entries
    target = need * (1.0 - MET)
    count, held, value = 0.0, 0.0, 0.0
    candidates = np.arange(len(scores))
    for _ in range(_ROUNDS):
        if len(candidates) <= _SORTED:
            break
        low, high = scores[candidates].min(), scores[candidates].max()
        if low == high:
            break
        bins = min(4096, max(16, len(candidates) // 4))
        scale = bins / (high - low)
        size_in, count_in, value_in = np.zeros(bins), np.zeros(bins), np.zeros(bins)
        for index in candidates:
            at = min(int((scores[index] - low) * scale), bins - 1)
            size_in[at] += sizes[index]
            count_in[at] += 1.0
            value_in[at] += notional[index]
        at = bins - 1
        while at > 0 and held + size_in[at] < target:
            held += size_in[at]
            count += count_in[at]
            value += value_in[at]
            at -= 1
        inside = np.empty(int(count_in[at]), dtype=np.intp)
        filled = 0
        for index in candidates:
            if min(int((scores[index] - low) * scale), bins - 1) == at:
                inside[filled] = index
                filled += 1
        candidates = inside
    order = candidates[np.argsort(-notional[candidates], kind="mergesort")]
    order = order[np.argsort(-sizes[order], kind="mergesort")]
    order = order[np.argsort(-scores[order], kind="mergesort")]
    lowest = -1.0
    for index in order:
        if held >= target:
            break
        take = min(sizes[index], need - held)
        count += 1.0
        held += take
        value += notional[index] * take / sizes[index]
        lowest = scores[index]
    return count, held, value, lowest
