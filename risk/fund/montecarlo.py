"""Monte Carlo projection of the fund's drawdown over 1 h and 24 h (SPEC §8, docs/FUND.md).

Model: over a horizon of h bars, the log returns of all marks are jointly normal with mean 0
and covariance h * Sigma, Sigma the EWMA per-bar covariance (risk/fund/volatility.py):

    m_s = exp(r_s),  r = sqrt(h) * L z,  L L^T = Sigma  (Cholesky, lower triangular)

over the symbols with a positive variance (a riskless symbol does not move). The Cholesky
factor is unique, unlike an eigenbasis, so equal inputs give equal paths on every worker; a
singular Sigma (fewer effective observations than symbols) gets the smallest diagonal jitter,
1e-12 of its largest variance and up by tenfolds, that makes it positive definite. z ~ N(0, I)
is drawn once per projection from a generator seeded with `seed`, rows in the order of the
symbols' names (the caller passes them sorted), and shared by every horizon: a longer horizon
is the same scenario, scaled. Paths are put in the order of their summed log-move (the same
order everywhere), so neighbouring paths move alike and risk/fund/profile.py can bound them
in blocks; no statistic depends on the order. So every worker draws the same paths, and a
path's drawdown can only grow with the horizon when every account's deficit grows with the
size of the move.
Mean-zero log returns keep each mark's median where it is (its mean rises by a factor
exp(sigma^2 h / 2), a few basis points over 24 h). The drawdown of a path is the sum of
deficits at its marks; depth slippage is not priced per path (it is in the stress grid).

Per horizon: expected drawdown (mean), VaR at `confidence` (the ceil((1 - c) n)-th largest
drawdown), expected shortfall (the mean of those ceil((1 - c) n) largest, so VaR <= ES), and the
probability that drawdown exceeds the balance (None without a balance).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from risk.fund.exposure import FloatArray

_JITTER_TRIES = 12


class PathSet(NamedTuple):
    """Multipliers m (symbols x paths) per horizon name."""

    horizons: tuple[str, ...]
    multipliers: tuple[FloatArray, ...]


class HorizonStats(NamedTuple):
    horizon: str
    expected_drawdown: float
    var: float
    expected_shortfall: float
    depletion_probability: float | None


def draw_paths(
    covariance: FloatArray, horizons: tuple[tuple[str, float], ...], paths: int, seed: int
) -> PathSet:
    """Multipliers with rows in `covariance`'s order (symbols by name); horizons in bars."""
    normal = np.random.default_rng(seed).standard_normal((len(covariance), paths))
    unit = np.zeros_like(normal)
    moving = np.flatnonzero(np.diag(covariance) > 0.0)
    if len(moving):
        factor = _cholesky(covariance[np.ix_(moving, moving)])
        unit[moving] = factor @ normal[moving]
    unit = unit[:, np.argsort(unit.sum(axis=0), kind="stable")]  # neighbours move alike
    multipliers = tuple(np.exp(math.sqrt(bars) * unit) for _, bars in horizons)
    return PathSet(tuple(name for name, _ in horizons), multipliers)


def _cholesky(covariance: FloatArray) -> FloatArray:
    jitter = 0.0
    scale = float(np.max(np.diag(covariance)))
    for _ in range(_JITTER_TRIES):
        try:
            factor = np.linalg.cholesky(covariance + jitter * np.eye(len(covariance)))
        except np.linalg.LinAlgError:
            jitter = scale * 1e-12 if jitter == 0.0 else jitter * 10.0
            continue
        return np.asarray(factor, dtype=np.float64)
    return np.diag(np.sqrt(np.diag(covariance)))  # hopeless input: keep the variances only


def horizon_stats(
    horizon: str, losses: FloatArray, balance: float | None, confidence: float
) -> HorizonStats:
    tail = max(1, math.ceil(round((1.0 - confidence) * len(losses), 9)))
    worst = np.sort(losses)[::-1][:tail]
    probability = None if balance is None else float(np.mean(losses > balance))
    return HorizonStats(
        horizon=horizon,
        expected_drawdown=float(np.mean(losses)),
        var=float(worst[-1]),
        expected_shortfall=float(np.mean(worst)),
        depletion_probability=probability,
    )
