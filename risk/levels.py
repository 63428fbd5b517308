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

    def next_levels(
        self,
        current: NDArray[np.int8],
        equity: NDArray[np.float64],
        maintenance: NDArray[np.float64],
    ) -> NDArray[np.int8]:
        """Vectorized `next_level` over accounts that hold positions."""
        bounds = np.array(self.bounds)
        positive = equity > 0.0
        ratio = np.divide(maintenance, equity, out=np.zeros_like(equity), where=positive)
        raw = np.searchsorted(bounds, ratio, side="right").astype(np.int8)
        lower = np.searchsorted(bounds, ratio + self.hysteresis, side="right").astype(np.int8)
        kept = np.where(lower < current, lower, current)
        result = np.where(raw > current, raw, kept)
        return np.where(positive, result, np.int8(Level.BANKRUPT)).astype(np.int8)


def margin_ratio(equity: float, maintenance: float) -> float | None:
    """MM / equity when equity > 0; None (bankrupt) otherwise. Callers handle 'no positions'."""
    return maintenance / equity if equity > 0.0 else None
