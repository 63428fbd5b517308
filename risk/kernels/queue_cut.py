"""Taking from an ADL queue without sorting it (risk/fund/allocation.py, docs/FUND.md "Loss
allocation"): the entries of one (side, symbol) queue at one shock, best score first, at equal
scores the larger position first, until their contracts reach the need. A weighted quickselect
finds the cut in O(n) expected; only the entries tied at it are ordered.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
MET = 1e-9  # a need is met when what is left of it is below this fraction (rounding)


@njit(cache=True, nogil=True)
def taken_totals(
    scores: FloatArray, sizes: FloatArray, notional: FloatArray, offsets: NDArray[np.intp],
    need: FloatArray,
) -> FloatArray:  # fmt: skip
    """3 (positions, contracts, notional) x cells: what each cell's queue (entries
    offsets[c]:offsets[c + 1], reordered in place) gives for `need` when it is the whole
    queue: the last entry taken partly, until less than MET of the need is left."""
    cells = len(offsets) - 1
    totals = np.zeros((3, cells))
    for cell in range(cells):
        first, last = int(offsets[cell]), int(offsets[cell + 1])
        if last == first or need[cell] <= 0.0:
            continue
        entries = (scores[first:last], sizes[first:last], notional[first:last])
        above, tied = cut(entries, need[cell] * (1.0 - MET))
        count, held, value = float(above), 0.0, 0.0
        for index in range(above):
            held += entries[1][index]
            value += entries[2][index]
        ties = np.arange(above, tied)
        ties = ties[np.argsort(-entries[2][ties], kind="mergesort")]
        ties = ties[np.argsort(-entries[1][ties], kind="mergesort")]
        for tie in ties:
            left = need[cell] - held
            if left <= MET * need[cell]:
                break
            take = min(entries[1][tie], left)
            count += 1.0
            held += take
            value += entries[2][tie] * take / entries[1][tie]
        totals[0, cell], totals[1, cell], totals[2, cell] = count, held, value
    return totals


@njit(cache=True, nogil=True)
def kept(
    scores: FloatArray, sizes: FloatArray, notional: FloatArray, offsets: NDArray[np.intp],
    need: FloatArray,
) -> NDArray[np.bool_]:  # fmt: skip
    """Which entries (reordered in place) can be among the first to reach their cell's need,
    whatever other processes hold: those scoring at least as well as the entry that reaches
    it in this process's own queue (all of them when it holds no more than the need)."""
    keep = np.zeros(len(scores), dtype=np.bool_)
    for cell in range(len(offsets) - 1):
        first, last = offsets[cell], offsets[cell + 1]
        if last > first and need[cell] > 0.0:
            entries = (scores[first:last], sizes[first:last], notional[first:last])
            _, tied = cut(entries, need[cell] * (1.0 - MET))
            keep[first : first + tied] = True
    return keep


@njit(cache=True, nogil=True)
def cut(entries: tuple[FloatArray, FloatArray, FloatArray], need: float) -> tuple[int, int]:
    """Reorder one queue's (score, contracts, notional) in place so that those taken first
    come first. Returns (above, tied): the first `above` entries score above some s and hold
    fewer than `need` contracts; entries above:tied score exactly s, and with them the need
    is reached. (n, n) when the whole queue holds less than `need`."""
    scores, sizes = entries[0], entries[1]
    low, high, wanted = 0, len(scores), need
    while high > low:
        first, middle, last = scores[low], scores[(low + high - 1) // 2], scores[high - 1]
        pivot = max(min(first, middle), min(max(first, middle), last))
        above, equal = _partition(entries, low, high, pivot)
        held_above = 0.0
        for index in range(low, above):
            held_above += sizes[index]
        if held_above >= wanted:
            high = above  # the cut is among the entries above the pivot
            continue
        held_equal = 0.0
        for index in range(above, equal):
            held_equal += sizes[index]
        if held_above + held_equal >= wanted:
            return above, equal
        wanted -= held_above + held_equal
        low = equal
    return len(scores), len(scores)


@njit(cache=True, nogil=True)
def _partition(
    entries: tuple[FloatArray, FloatArray, FloatArray], low: int, high: int, pivot: float
) -> tuple[int, int]:
    """Three-way partition of [low, high) by score, descending: (end of the entries above
    the pivot, end of those equal to it)."""
    scores = entries[0]
    above, index, below = low, low, high
    while index < below:
        if scores[index] > pivot:
            _swap(entries, index, above)
            above += 1
            index += 1
        elif scores[index] < pivot:
            below -= 1
            _swap(entries, index, below)
        else:
            index += 1
    return above, below


@njit(cache=True, nogil=True)
def _swap(entries: tuple[FloatArray, FloatArray, FloatArray], one: int, other: int) -> None:
    for column in entries:
        column[one], column[other] = column[other], column[one]
