"""Named market scenarios for the demo: a scripted market move plus correlated noise.

A scenario fixes, as functions of simulated seconds since the start:

- the market factor `m(t)`: a log move, linear between knots (`knots`: seconds, price
  multiple of the market). Symbol s moves by `beta_s * m(t)`, times `alt_amplifier` when
  beta_s > 1 (in a cascade the alts fall further than their beta says);
- the noise: per symbol a random walk with `volatility` (annualised, a fraction: 0.6 = 60%),
  of which a share `correlation` is one market-wide draw;
- `depth(t)`: the order-book depth as a multiple of normal (thin books in a cascade);
- `short_bias`: the share of positions that are short when the book is built (a crowded
  short for the squeeze).

After its last knot a scenario holds its level and the noise goes on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

HOUR: Final = 3600.0
MINUTE: Final = 60.0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    knots: tuple[tuple[float, float], ...]  # (seconds, multiple of the opening price)
    volatility: float  # annualised, of each symbol's noise
    correlation: float  # share of the noise's variance that is market-wide
    depth_knots: tuple[tuple[float, float], ...]  # (seconds, depth multiple)
    speed: float  # default simulated seconds per wall-clock second
    short_bias: float = 0.45
    alt_amplifier: float = 1.0

    @property
    def duration(self) -> float:
        """Simulated seconds of the scripted move."""
        return self.knots[-1][0]

    def market_move(self, seconds: float) -> float:
        """m(t): the market's log move since the start, linear between knots."""
        return _interpolate(self.knots, seconds, log=True)

    def depth(self, seconds: float) -> float:
        """The book's depth as a multiple of its normal depth at `seconds`."""
        return _interpolate(self.depth_knots, seconds, log=False)


def _interpolate(knots: tuple[tuple[float, float], ...], seconds: float, *, log: bool) -> float:
    values = [math.log(value) if log else value for _, value in knots]
    if seconds <= knots[0][0]:
        return values[0]
    for (start, _), (end, _), low, high in zip(knots, knots[1:], values, values[1:], strict=False):
        if seconds <= end:
            return low + (high - low) * (seconds - start) / (end - start)
    return values[-1]


SCENARIOS: Final = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "calm",
            "a quiet market: marks wander, nothing scripted",
            knots=((0.0, 1.0), (6 * HOUR, 1.0)),
            volatility=0.5,
            correlation=0.6,
            depth_knots=((0.0, 1.0),),
            speed=120.0,
        ),
        Scenario(
            "flash-crash",
            "2020-03-12: two legs down, -40% within a day, thin books on the way",
            knots=(
                (0.0, 1.0),
                (3 * HOUR, 0.98),
                (8 * HOUR, 0.92),
                (10 * HOUR, 0.80),
                (14 * HOUR, 0.78),
                (20 * HOUR, 0.74),
                (22 * HOUR, 0.60),
                (24 * HOUR, 0.66),
            ),
            volatility=1.2,
            correlation=0.8,
            depth_knots=(
                (0.0, 1.0),
                (8 * HOUR, 0.8),
                (10 * HOUR, 0.35),
                (14 * HOUR, 0.6),
                (20 * HOUR, 0.5),
                (22 * HOUR, 0.2),
                (24 * HOUR, 0.5),
            ),
            speed=720.0,
            short_bias=0.4,
        ),
        Scenario(
            "cascade",
            "2025-10-10: BTC -14% within the hour, alts twice as far, books nearly empty",
            knots=(
                (0.0, 1.0),
                (40 * MINUTE, 0.99),
                (60 * MINUTE, 0.95),
                (70 * MINUTE, 0.86),
                (80 * MINUTE, 0.88),
                (2 * HOUR, 0.90),
            ),
            volatility=1.0,
            correlation=0.85,
            depth_knots=(
                (0.0, 1.0),
                (55 * MINUTE, 0.7),
                (65 * MINUTE, 0.1),
                (80 * MINUTE, 0.15),
                (2 * HOUR, 0.5),
            ),
            speed=60.0,
            short_bias=0.35,
            alt_amplifier=2.0,
        ),
        Scenario(
            "squeeze",
            "a crowded short squeezed: +35% in an hour and a half",
            knots=(
                (0.0, 1.0),
                (30 * MINUTE, 1.02),
                (60 * MINUTE, 1.15),
                (75 * MINUTE, 1.35),
                (90 * MINUTE, 1.30),
                (2 * HOUR, 1.25),
            ),
            volatility=1.0,
            correlation=0.8,
            depth_knots=((0.0, 1.0), (60 * MINUTE, 0.5), (75 * MINUTE, 0.25), (2 * HOUR, 0.6)),
            speed=60.0,
            short_bias=0.75,
        ),
    )
}
