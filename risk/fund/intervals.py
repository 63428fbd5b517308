"""When is a multi-symbol, linear-only margin account in deficit under a shock? Exactly.

Under a shock x = d * t (direction d = -1 or +1, size t >= 0) leg j of symbol s contributes
c_j * max(1 + beta_s * x, f) to equity (f = 0.001, the mark floor): linear in t until the
floor binds at t_j = (1 - f) / |beta_s| (only when beta_s * d < 0), constant after it. So an
account's equity

    h(t) = K + sum_j c_j * max(1 + beta_s(j) * d * t, f)

is piecewise linear with a kink per floored leg. Walking the kinks in order (each changes the
intercept by c_j * (f - 1) and the slope by -c_j * beta * d), each piece's negative part is
found in closed form, and touching parts merge: the account's deficit set is a union of open
intervals (start, end).

Then for any t, drawdown of these accounts = -(sum K + sum_s g_s(t) * sum c_js) over the
intervals holding t, with g_s(t) = max(1 + beta_s * d * t, f): with the interval starts and ends
sorted (per symbol for the leg sums), one binary search per symbol answers a shock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from risk.fund.exposure import FloatArray, IndexArray, prefix_sums, sum_by
from risk.fund.parameters import MARK_FLOOR, shock_multiplier


@dataclass(frozen=True, slots=True)
class Legs:
    """Positions of multi-symbol linear accounts, sorted by account (0..A-1)."""

    constant: FloatArray  # K per account
    account: IndexArray  # per leg
    symbol: IndexArray  # per leg (index into the asset's symbol rows)
    slope: FloatArray  # c per leg
    beta: FloatArray  # beta of the leg's symbol
    long: FloatArray  # contracts held long (0 for a short leg)
    short: FloatArray


@dataclass(frozen=True, slots=True)
class LegTimes:
    """Per symbol row, the legs' interval starts (or ends), sorted, with prefix sums."""

    times: tuple[FloatArray, ...]  # per symbol row
    sums: tuple[FloatArray, ...]  # per symbol row: 3 x (n + 1) prefix sums of c, long, short

    def before(self, sizes: FloatArray, side: str) -> FloatArray:
        """3 x rows x n: the sums over legs whose time is < t ("left") or <= t ("right")."""
        result = np.zeros((3, len(self.times), len(sizes)))
        for row, (times, sums) in enumerate(zip(self.times, self.sums, strict=True)):
            if len(times):
                found = np.searchsorted(times, sizes, side="left" if side == "left" else "right")
                result[:, row] = np.take(sums, found, axis=1)
        return result


@dataclass(frozen=True, slots=True)
class ShockIntervals:
    """Deficit intervals of one direction, sorted for binary search."""

    direction: int
    starts: FloatArray  # sorted
    start_sums: FloatArray  # prefix sums of K (n + 1)
    ends: FloatArray  # sorted
    end_sums: FloatArray
    leg_starts: LegTimes
    leg_ends: LegTimes

    def evaluate(
        self, sizes: FloatArray, beta: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(deficit, accounts in deficit, 2 x symbols x n contracts) at shock sizes t.

        `beta` holds the asset's symbols' betas (rows of the closing array).
        """
        active_start = np.searchsorted(self.starts, sizes, side="left")
        active_end = np.searchsorted(self.ends, sizes, side="right")
        constant = self.start_sums[active_start] - self.end_sums[active_end]
        count = (active_start - active_end).astype(np.float64)
        sums = self.leg_starts.before(sizes, "left") - self.leg_ends.before(sizes, "right")
        g = shock_multiplier(beta, self.direction * sizes)
        deficit = -(constant + (g * sums[0]).sum(axis=0))
        return deficit, count, sums[1:]


def shock_intervals(legs: Legs, symbols: int, direction: int, limit: float) -> ShockIntervals:
    """The deficit intervals of every account for shocks of sizes (0, limit]."""
    account, start, end = _negative_parts(legs, direction, limit)
    reached = start < limit  # the rest begins past the largest shock asked about
    account, start, end = account[reached], start[reached], end[reached]
    order_start, order_end = np.argsort(start, kind="stable"), np.argsort(end, kind="stable")
    constant = legs.constant[account]
    leg_rows, interval_of_leg = _legs_of_intervals(legs.account, account)
    symbol = legs.symbol[leg_rows]
    values = np.stack((legs.slope[leg_rows], legs.long[leg_rows], legs.short[leg_rows]))
    return ShockIntervals(
        direction=direction,
        starts=start[order_start],
        start_sums=prefix_sums(constant[order_start]),
        ends=end[order_end],
        end_sums=prefix_sums(constant[order_end]),
        leg_starts=_leg_times(symbol, start[interval_of_leg], values, symbols),
        leg_ends=_leg_times(symbol, end[interval_of_leg], values, symbols),
    )


def _leg_times(symbol: IndexArray, times: FloatArray, values: FloatArray, rows: int) -> LegTimes:
    order = np.lexsort((times, symbol))
    bounds = np.searchsorted(symbol[order], np.arange(rows + 1))
    per_row = [order[bounds[row] : bounds[row + 1]] for row in range(rows)]
    return LegTimes(
        times=tuple(times[chosen] for chosen in per_row),
        sums=tuple(prefix_sums(values[:, chosen]) for chosen in per_row),
    )


def _negative_parts(
    legs: Legs, direction: int, limit: float
) -> tuple[IndexArray, FloatArray, FloatArray]:
    """(account, start, end) of every maximal open interval of t in (0, limit] with h < 0."""
    accounts = len(legs.constant)
    if not accounts:
        nothing = np.zeros(0)
        return np.zeros(0, dtype=np.intp), nothing, nothing
    drift = legs.beta * direction
    floored = drift < 0.0
    kink = np.full(len(drift), np.inf)
    with np.errstate(over="ignore"):  # a denormal beta: the floor is never reached
        kink[floored] = (1.0 - MARK_FLOOR) / -drift[floored]
    kinked = np.flatnonzero(kink < limit)
    kinked = kinked[np.lexsort((kink[kinked], legs.account[kinked]))]
    intercept = legs.constant + sum_by(legs.account, legs.slope, accounts)
    slope = sum_by(legs.account, legs.slope * drift, accounts)
    piece_account = [np.arange(accounts)]
    piece_start = [np.zeros(accounts)]
    piece_intercept, piece_slope = [intercept], [slope]
    rank = _rank_within(legs.account[kinked])
    for step in range(int(rank.max()) + 1 if len(rank) else 0):
        chosen = kinked[rank == step]
        owners = legs.account[chosen]
        intercept = intercept.copy()
        slope = slope.copy()
        intercept[owners] += legs.slope[chosen] * (MARK_FLOOR - 1.0)
        slope[owners] -= legs.slope[chosen] * drift[chosen]
        piece_account.append(owners)
        piece_start.append(kink[chosen])
        piece_intercept.append(intercept[owners])
        piece_slope.append(slope[owners])
    account = np.concatenate(piece_account)
    order = np.lexsort((np.concatenate(piece_start), account))
    account = account[order]
    lower = np.concatenate(piece_start)[order]
    upper = np.append(lower[1:], np.inf)
    upper[np.flatnonzero(np.diff(account))] = np.inf  # each account's last piece is open
    a, b = np.concatenate(piece_intercept)[order], np.concatenate(piece_slope)[order]
    return _merge(account, *_piece_negatives(a, b, lower, upper))


def _piece_negatives(
    a: FloatArray, b: FloatArray, lower: FloatArray, upper: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per piece, the open part (start, end) of [lower, upper) where a + b t < 0 (empty: >=)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        root = np.where(b != 0.0, -a / b, np.nan)
    flat_negative = (b == 0.0) & (a < 0.0)
    rising = b > 0.0  # negative before the root
    falling = b < 0.0  # negative after the root
    start = np.where(falling, np.maximum(lower, root), lower)
    end = np.where(rising, np.minimum(upper, root), upper)
    empty = ~(flat_negative | ((rising | falling) & (start < end)))
    start[empty], end[empty] = np.inf, -np.inf
    return start, end


def _merge(
    account: IndexArray, start: FloatArray, end: FloatArray
) -> tuple[IndexArray, FloatArray, FloatArray]:
    """Drop empty parts and join parts of one account that touch at a kink."""
    kept = np.flatnonzero(start < end)
    account, start, end = account[kept], start[kept], end[kept]
    joins = np.flatnonzero((account[1:] == account[:-1]) & (start[1:] <= end[:-1]))
    if len(joins):
        first = np.ones(len(start), dtype=bool)
        first[joins + 1] = False
        group = np.cumsum(first) - 1
        last_end = np.full(int(group[-1]) + 1, -np.inf)
        np.maximum.at(last_end, group, end)
        account, start, end = account[first], start[first], last_end
    return account, start, end


def _legs_of_intervals(
    leg_account: IndexArray, interval_account: IndexArray
) -> tuple[IndexArray, IndexArray]:
    """For every (interval, leg of its account) pair: the leg row and the interval index."""
    first_leg = np.searchsorted(leg_account, interval_account, side="left")
    count = np.searchsorted(leg_account, interval_account, side="right") - first_leg
    interval = np.repeat(np.arange(len(interval_account)), count)
    offset = np.arange(len(interval)) - np.repeat(np.cumsum(count) - count, count)
    return first_leg[interval] + offset, interval


def _rank_within(groups: IndexArray) -> IndexArray:
    """0, 1, 2, ... within each run of equal values of sorted `groups`."""
    if not len(groups):
        return groups
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    run = np.repeat(starts, np.diff(np.r_[starts, len(groups)]))
    return np.arange(len(groups)) - run
