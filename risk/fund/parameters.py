"""Parameters of the insurance fund projection (SPEC §8, docs/FUND.md).

The core reads no settings object: the edge (`riskmon replay`'s config file, the worker's
settings) builds one `FundParameters` and hands it to the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

HOUR_MS: Final = 3_600_000
DEFAULT_SHOCKS: Final = (
    -0.5, -0.4, -0.3, -0.25, -0.2, -0.15, -0.1, -0.05,
    0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5,
)  # fmt: skip
DEFAULT_HORIZONS: Final = (("1h", HOUR_MS), ("24h", 24 * HOUR_MS))
MARK_FLOOR: Final = 0.001  # a shocked mark never falls below 0.1% of itself
DEPLETION_DOWN: Final = -0.99
DEPLETION_UP: Final = 10.0
DEPLETION_STEP: Final = 1e-4


def shock_multiplier(beta: npt.ArrayLike, shocks: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """max(1 + beta * x, 0.001): the mark multiplier of each symbol (rows, from `beta`) at each
    shock x (columns); a scalar beta gives one row's multipliers."""
    return np.maximum(1.0 + np.multiply.outer(beta, shocks), MARK_FLOOR)


@dataclass(frozen=True, slots=True)
class FundParameters:
    """What the projection needs besides the book.

    - `shocks`: the stress grid x (fractions; SPEC §8's default grid).
    - `drawdown_window_ms`: the fund drawdown window (8 h).
    - `bar_ms`, `decay`: the EWMA covariance samples every mark on a bar clock of `bar_ms` of
      event time; each bar's weight decays by `decay` (lambda) per bar.
    - `prior_daily_volatility`: the volatility a symbol is assumed to have before its marks say
      otherwise (fraction per 24 h), with zero correlation.
    - `paths`, `seed`, `horizons`: the Monte Carlo draw (`horizons` is (name, length in ms)).
    - `confidence`: the VaR / expected-shortfall level.
    - `adl_top`: how many entries of each ADL queue a summary shows.
    - `plausible_shock`: the largest |x| of the grid that counts as "extreme but plausible"
      for the recommended fund size (SPEC §8.1).
    - `projection_interval_ms`, `large_move`: live projections run at every multiple of the
      interval in event time, and just after a mark that moved by `large_move` or more (a
      fraction) from its price when the interval began (or at its last large move).
    """

    shocks: tuple[float, ...] = DEFAULT_SHOCKS
    drawdown_window_ms: int = 8 * HOUR_MS
    bar_ms: int = 60_000
    decay: float = 0.995
    prior_daily_volatility: float = 0.05
    paths: int = 10_000
    seed: int = 20_200_312
    horizons: tuple[tuple[str, int], ...] = DEFAULT_HORIZONS
    confidence: float = 0.99
    adl_top: int = 10
    plausible_shock: float = 0.3
    projection_interval_ms: int = 60_000
    large_move: float = 0.03

    def __post_init__(self) -> None:
        if not self.shocks or any(not math.isfinite(x) or x == 0.0 for x in self.shocks):
            raise ValueError("shocks must be non-zero finite fractions")
        if self.drawdown_window_ms <= 0 or self.bar_ms <= 0:
            raise ValueError("drawdown_window_ms and bar_ms must be positive")
        if not 0.0 < self.decay < 1.0:
            raise ValueError("decay must be in (0, 1)")
        if not 0.0 <= self.prior_daily_volatility < 10.0:
            raise ValueError("prior_daily_volatility must be in [0, 10)")
        if self.paths < 1 or self.seed < 0:
            raise ValueError("paths must be positive and seed non-negative")
        if not self.horizons or any(length <= 0 for _, length in self.horizons):
            raise ValueError("horizons must be positive")
        if not 0.5 <= self.confidence < 1.0:
            raise ValueError("confidence must be in [0.5, 1)")
        if self.adl_top < 1:
            raise ValueError("adl_top must be positive")
        if not 0.0 < self.plausible_shock < 10.0:
            raise ValueError("plausible_shock must be in (0, 10)")
        if self.projection_interval_ms <= 0 or not self.large_move > 0.0:
            raise ValueError("projection_interval_ms and large_move must be positive")

    @property
    def prior_bar_variance(self) -> float:
        """Variance of one bar's log return under the prior: sigma_day^2 * bar / 24 h."""
        return self.prior_daily_volatility**2 * self.bar_ms / (24 * HOUR_MS)
