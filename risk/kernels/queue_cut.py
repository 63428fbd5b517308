"""Taking from an ADL queue without sorting it (risk/fund/allocation.py, docs/FUND.md "Loss
allocation"): the entries of one (side, symbol) queue at one shock, best score first, at equal
scores the larger position first, until their contracts reach the need. A histogram of the
scores (binned by the bits of the float, so bins are finer where scores are smaller: scores
spread over orders of magnitude) finds the bin where the need is reached, refined until few
entries are left: linear in the queue; only the entries of the last bin are sorted.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
MET = 1e-9  # a need is met when what is left of it is below this fraction (rounding)
_ROUNDS = 8  # histogram rounds before the rest is sorted
BINS = 4096  # at most, per round
_SORTED = 64  # entries few enough to sort


@njit(cache=True, nogil=True)
def kept(
    scores: FloatArray, sizes: FloatArray, notional: FloatArray, offsets: NDArray[np.intp],
    need: FloatArray,
) -> NDArray[np.bool_]:  # fmt: skip
    """Which entries can be among the first to reach their cell's need, whatever other
    processes hold: those scoring at least as well as the last entry this process's own
    queue takes (all of them when it holds no more than the need)."""
    keep = np.zeros(len(scores), dtype=np.bool_)
    buffers = (np.zeros((3, BINS)), np.empty(len(scores), dtype=np.intp))
    for cell in range(len(offsets) - 1):
        first, last = int(offsets[cell]), int(offsets[cell + 1])
        if last > first and need[cell] > 0.0:
            entries = (scores[first:last], sizes[first:last], notional[first:last])
            _, _, _, lowest = walk(entries, need[cell], buffers)
            keep[first:last] = scores[first:last] >= lowest
    return keep


@njit(cache=True, nogil=True)
def walk(
    entries: tuple[FloatArray, FloatArray, FloatArray],
    need: float,
    buffers: tuple[FloatArray, NDArray[np.intp]],
) -> tuple[float, float, float, float]:
    """(positions, contracts, notional, lowest score taken) of one queue's entries taken for
    `need`: best score first, at equal scores the larger position first, the last one partly,
    until less than MET of the need is left. Whole bins of a score histogram are taken at
    once; only the entries of the bin where the need is reached are sorted. `buffers` are
    3 x BINS for the histograms and candidates at least as long as the queue."""
    scores, sizes, notional = entries
    histogram, candidates = buffers
    target = need * (1.0 - MET)
    totals = np.zeros(3)  # positions, contracts, notional taken whole
    length = len(scores)
    everyone = True  # no round yet: the candidates are all the entries, in order
    for _ in range(_ROUNDS):
        if length <= _SORTED:
            break
        length = _narrow(entries, (candidates, length, everyone), histogram, target, totals)
        everyone = False
        if length < 0:  # every candidate scores the same
            length = -length
            break
    if everyone:
        candidates[:length] = np.arange(length)
    count, held, value = totals[0], totals[1], totals[2]
    order = candidates[:length]
    order = order[np.argsort(-notional[order], kind="mergesort")]
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


@njit(cache=True, nogil=True)
def _narrow(
    entries: tuple[FloatArray, FloatArray, FloatArray],
    among: tuple[NDArray[np.intp], int, bool],
    histogram: FloatArray,
    target: float,
    totals: FloatArray,
) -> int:
    """One histogram round over the candidates `among` = (indices, how many, or every entry
    when the flag is set): add the bins above the one where `target` (less `totals[1]`) is
    reached to `totals`, keep that bin's entries at the front of the indices, and return how
    many (negated, untouched, when they all score the same)."""
    scores, sizes, notional = entries
    candidates, length, everyone = among
    bits = scores.view(np.int64)  # positive floats: their bits rise with them (log-like bins)
    low, high = _span(bits, among)
    if low == high:
        if everyone:
            candidates[:length] = np.arange(length)
        return -length
    bins = min(BINS, max(16, length // 4))
    shift = 0
    while (high - low) >> shift >= bins:
        shift += 1
    bins = ((high - low) >> shift) + 1
    histogram[:, :bins] = 0.0
    for position in range(length):
        index = position if everyone else candidates[position]
        at = (bits[index] - low) >> shift
        histogram[0, at] += 1.0
        histogram[1, at] += sizes[index]
        histogram[2, at] += notional[index]
    at = bins - 1
    while at > 0 and totals[1] + histogram[1, at] < target:
        totals += histogram[:, at]
        at -= 1
    kept = 0
    for position in range(length):
        index = position if everyone else candidates[position]
        if (bits[index] - low) >> shift == at:
            candidates[kept] = index
            kept += 1
    return kept


@njit(cache=True, nogil=True)
def _span(bits: NDArray[np.int64], among: tuple[NDArray[np.intp], int, bool]) -> tuple[int, int]:
    """The lowest and highest bits among the candidates."""
    candidates, length, everyone = among
    first = 0 if everyone else candidates[0]
    low, high = bits[first], bits[first]
    for position in range(length):
        value = bits[position if everyone else candidates[position]]
        low, high = min(low, value), max(high, value)
    return low, high


@njit(cache=True, nogil=True)
def contracts_before(group: NDArray[np.intp], sizes: FloatArray) -> FloatArray:
    """Per entry, the contracts of the entries before it in its group (entries sorted by
    group): each group's own running sum, so no digits are lost to the others'."""
    before = np.empty(len(sizes))
    running = 0.0
    for index in range(len(sizes)):
        if index and group[index] != group[index - 1]:
            running = 0.0
        before[index] = running
        running += sizes[index]
    return before
