"""Risk levels with hysteresis (SPEC §5).

With thresholds t_watch < t_margin_call < t_liquidation on the margin ratio r = MM / equity:

    raw(r) = the highest level whose threshold is <= r          (safe below t_watch)
    bankrupt                     if equity <= 0 with positions
    raw(r)                       if raw(r) > current             (escalate at once)
    raw(r + h)                   if raw(r + h) < current         (de-escalate past the band h)
    current                      otherwise

A bankrupt account whose equity turns positive always leaves bankrupt, for raw(r + h) is at
most `liquidation`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import numpy as np
from numpy.typing import NDArray


class Level(IntEnum):
    SAFE = 0
    WATCH = 1
    MARGIN_CALL = 2
    LIQUIDATION = 3
    BANKRUPT = 4

    @property
    def label(self) -> str:
        """The SPEC name: safe, watch, margin_call, liquidation, bankrupt."""
        return self.name.lower()


LEVEL_NAMES: Final = tuple(level.label for level in Level)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Margin-ratio thresholds of watch, margin_call and liquidation, and the hysteresis band."""

    watch: float = 0.5
    margin_call: float = 0.8
    liquidation: float = 1.0
    hysteresis: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 < self.watch < self.margin_call < self.liquidation:
            raise ValueError("thresholds must satisfy 0 < watch < margin_call < liquidation")
        if not self.hysteresis >= 0.0:
            raise ValueError("hysteresis must be >= 0")

    @property
    def bounds(self) -> tuple[float, float, float]:
        return (self.watch, self.margin_call, self.liquidation)

    def raw(self, ratio: float) -> int:
        """raw(r): the number of thresholds <= r, i.e. the level index below bankrupt."""
        return bisect.bisect_right(self.bounds, ratio)

    def next_level(self, current: int, equity: float, maintenance: float) -> int:
        """The level after an evaluation of an account that holds positions."""
        if equity <= 0.0:
            return Level.BANKRUPT
        ratio = maintenance / equity
        raw = self.raw(ratio)
        if raw > current:
            return raw
        lower = self.raw(ratio + self.hysteresis)
        return lower if lower < current else current

    def changing(
        self,
        current: NDArray[np.int8],
        equity: NDArray[np.float64],
        maintenance: NDArray[np.float64],
    ) -> NDArray[np.bool_]:
        """Vectorized `next_level(...) != current` for accounts that hold positions.

        Level L (below bankrupt) holds while raw(r) <= L and raw(r + h) >= L, that is while
        r < t_{L+1} and r + h >= t_L (t_0 = -inf; liquidation cannot rise by ratio, even at
        r = inf from a denormal equity); bankrupt holds while equity <= 0.
        The comparisons are the ones `next_level` makes, so both agree to the last bit.
        """
        level = current.astype(np.intp)
        # No escalation by ratio above liquidation (NaN compares false, also for r = inf).
        upper = np.array((*self.bounds, np.nan, np.nan))[level]
        lower = np.array((-np.inf, *self.bounds, -np.inf))[level]
        positive = equity > 0.0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = maintenance / equity  # only read where equity > 0
            leaves_band = (ratio >= upper) | (ratio + self.hysteresis < lower)
        bankrupt = level == Level.BANKRUPT
        changing: NDArray[np.bool_] = (positive & (leaves_band | bankrupt)) | (
            ~positive & ~bankrupt
        )
        return changing


def next_levels(
    thresholds: Thresholds,
    current: NDArray[np.int8],
    equity: NDArray[np.float64],
    maintenance: NDArray[np.float64],
) -> NDArray[np.int8]:
    """Vectorized `Thresholds.next_level` for accounts that hold positions, with its
    comparisons (bisect_right is searchsorted side="right"; NaN sorts past every bound)."""
    bounds = np.array(thresholds.bounds)
    positive = equity > 0.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(positive, maintenance / np.where(positive, equity, 1.0), np.nan)
        raw = np.searchsorted(bounds, ratio, side="right")
        lower = np.searchsorted(bounds, ratio + thresholds.hysteresis, side="right")
    level = current.astype(np.int64)
    stay_or_drop = np.where(lower < level, lower, level)
    result = np.where(raw > level, raw, stay_or_drop)
    return np.where(positive, result, int(Level.BANKRUPT)).astype(np.int8)


def margin_ratio(equity: float, maintenance: float) -> float | None:
    """MM / equity when equity > 0; None (bankrupt) otherwise. Callers handle 'no positions'."""
    return maintenance / equity if equity > 0.0 else None
