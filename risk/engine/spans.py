"""Reading the members of several accounts out of the evaluation's columns at once."""

from __future__ import annotations

from typing import cast

import numpy as np
from numpy.typing import NDArray


def span_slots(
    starts: NDArray[np.int64], ends: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(bounds, slots): the slots starts[j]..ends[j]-1 of every span j laid end to end, span j
    at slots[bounds[j]:bounds[j+1]]."""
    lengths = ends - starts
    bounds = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    slots = np.arange(bounds[-1], dtype=np.int64) + np.repeat(starts - bounds[:-1], lengths)
    return bounds, slots


def numbers(values: NDArray[np.float64]) -> list[float | None]:
    """Python floats, None for NaN (no price, no mark)."""
    boxed = values.astype(object)
    boxed[np.isnan(values)] = None
    return cast(list[float | None], boxed.tolist())
