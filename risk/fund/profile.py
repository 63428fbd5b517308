"""The book reduced for fast "what does the fund lose at these marks" questions.

Every scenario is a multiplier m_s per symbol (a stress shock, a Monte Carlo path). With
g_s = m_s (linear) or 1/m_s (inverse), account a's equity is  K_a + sum_j c_j * g_{s_j}
(risk/fund/exposure.py) and its deficit max(0, -equity).

- A *single-symbol* account (every position in one symbol; hedge-mode legs add up) has equity
  K_a + C_a * g: negative exactly when g < theta_a = -K_a / C_a (C_a > 0) or g > theta_a
  (C_a < 0). Sorted by theta with prefix sums of K, C and contracts, a symbol's accounts answer
  any g with one binary search: deficit = -(sum K + g * sum C) over those past their theta.
  A Monte Carlo path or a stress shock then costs O(log n) per symbol, not O(n).
- A *multi-symbol* account with linear legs only is, under a stress shock, piecewise linear in
  the shock's size: its deficit set is a union of intervals found in closed form
  (risk/fund/intervals.py), again answered by binary searches.
- Other multi-symbol accounts (an inverse leg), and every multi-symbol account on Monte Carlo
  paths, are evaluated directly: positions sorted by account, per-account sums by
  `np.add.reduceat`. Paths go in blocks; an account whose equity cannot go negative in a block
  (K_a + sum_j min over the block of c_j * g_j >= 0) is skipped for that block.

`closing` is what accounts in deficit hold per symbol: long contracts (the fund sells them)
and short contracts (it buys them back), kept apart, so the slippage model walks each side of
the book with the gross size, never a netted one: a further account in deficit can only add to
the cost of closing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from risk.fund.exposure import Exposure, FloatArray, IndexArray, prefix_sums, sum_by
from risk.fund.intervals import Legs, ShockIntervals, shock_intervals
from risk.fund.parameters import DEPLETION_DOWN, DEPLETION_UP, shock_multiplier

_CELLS_PER_CHUNK: Final = 2_000_000  # positions x scenarios evaluated at once (16 MB)
_PATH_BLOCK: Final = 128  # Monte Carlo paths bounded together


class Evaluation(NamedTuple):
    """One asset's losses at n scenarios: deficit sum, accounts in deficit, contracts to close."""

    deficit: FloatArray  # n
    negative: NDArray[np.int64]  # n
    closing: FloatArray  # 2 (long, short contracts) x (symbols of the asset) x n


class Ladder(NamedTuple):
    """Single-symbol accounts with C of one sign, sorted by theta, with prefix sums."""

    threshold: FloatArray
    constant: FloatArray  # prefix sums of K, length n + 1
    slope: FloatArray  # prefix sums of C
    closing: FloatArray  # 2 x (n + 1): prefix sums of long and of short contracts
    below: bool  # deficit when g < theta (C > 0); else when g > theta

    def evaluate(self, g: FloatArray) -> tuple[FloatArray, NDArray[np.int64], FloatArray]:
        """(deficit, accounts in deficit, 2 x contracts to close) at each g."""
        size = len(self.threshold)
        if self.below:
            index = np.searchsorted(self.threshold, g, side="right")
            constant = self.constant[size] - self.constant[index]
            slope = self.slope[size] - self.slope[index]
            closing = self.closing[:, size : size + 1] - self.closing[:, index]
            count = size - index
        else:
            index = np.searchsorted(self.threshold, g, side="left")
            constant, slope = self.constant[index], self.slope[index]
            closing, count = self.closing[:, index], index
        return -(constant + g * slope), count.astype(np.int64), closing


@dataclass(frozen=True, slots=True)
class SymbolLadders:
    """The single-symbol accounts of one symbol."""

    symbol: int  # global index
    row: int  # index among the asset's symbols
    ladders: tuple[Ladder, ...]
    fixed_deficit: float  # C = 0 (fully hedged in the symbol) and K < 0: a constant deficit
    fixed_count: int
    fixed_closing: FloatArray  # 2: long and short contracts


@dataclass(frozen=True, slots=True)
class LegGroup:
    """Multi-symbol accounts with the same number k of legs, as (accounts x k) arrays."""

    constant: FloatArray  # K per account
    symbol: IndexArray  # global index
    row: IndexArray  # index among the asset's symbols
    slope: FloatArray
    size: FloatArray


@dataclass(frozen=True, slots=True)
class MultiSymbol:
    """Multi-symbol accounts, grouped by their number of legs."""

    groups: tuple[LegGroup, ...]

    @property
    def accounts(self) -> int:
        return sum(len(group.constant) for group in self.groups)


@dataclass(frozen=True, slots=True)
class AssetProfile:
    """Everything settling in one asset."""

    asset: str
    symbols: IndexArray  # global indices of the asset's symbols, ascending
    beta: FloatArray  # per asset symbol
    inverse: NDArray[np.bool_]  # per asset symbol
    singles: tuple[SymbolLadders, ...]
    multi: MultiSymbol  # every multi-symbol account (Monte Carlo)
    irregular: MultiSymbol  # multi-symbol accounts with an inverse leg (stress, directly)
    intervals: tuple[ShockIntervals, ShockIntervals]  # linear multi-symbol: down, up

    def evaluate(self, g: FloatArray) -> Evaluation:
        """Losses at scenarios `g` (global symbols x n), g = m or 1/m per symbol (Monte Carlo
        paths: the multi-symbol accounts' contracts are not summed, slippage is not priced)."""
        totals = self._singles(g[self.symbols])
        for first in range(0, g.shape[1], _PATH_BLOCK):
            columns = slice(first, first + _PATH_BLOCK)
            block = (totals[0][columns], totals[1][columns], totals[2][:, :, columns])
            for group in self.multi.groups:
                _evaluate_group(group, g[:, columns], block, with_closing=False)
        return Evaluation(np.maximum(totals[0], 0.0), *totals[1:])

    def shock(self, shocks: FloatArray) -> Evaluation:
        """Losses when every mark moves to mark * max(1 + beta * x, 0.001), per x in `shocks`."""
        multiplier = shock_multiplier(self.beta, shocks)
        g = np.where(self.inverse[:, None], 1.0 / multiplier, multiplier)
        deficit, negative, closing = self._singles(g)
        for intervals in self.intervals:
            chosen = np.flatnonzero(np.sign(shocks) == intervals.direction)
            if len(chosen):
                part, count, held = intervals.evaluate(np.abs(shocks[chosen]), self.beta)
                deficit[chosen] += part
                negative[chosen] += count.astype(np.int64)
                closing[:, :, chosen] += held
        if self.irregular.groups:
            full = np.ones((int(self.symbols.max()) + 1, len(shocks)))
            full[self.symbols] = g
            for group in self.irregular.groups:
                _evaluate_group(group, full, (deficit, negative, closing), with_closing=True)
        nobody = negative == 0  # no one owes: what prefix sums leave of their differences
        deficit[nobody], closing[:, :, nobody] = 0.0, 0.0
        return Evaluation(np.maximum(deficit, 0.0), negative, closing)

    def _singles(self, g: FloatArray) -> tuple[FloatArray, NDArray[np.int64], FloatArray]:
        """Totals of the single-symbol accounts; `g` has the asset's symbol rows."""
        scenarios = g.shape[1]
        deficit = np.zeros(scenarios)
        negative = np.zeros(scenarios, dtype=np.int64)
        closing = np.zeros((2, len(self.symbols), scenarios))
        for single in self.singles:
            deficit += single.fixed_deficit
            negative += single.fixed_count
            closing[:, single.row] += single.fixed_closing[:, None]
            for ladder in single.ladders:
                part, count, held = ladder.evaluate(g[single.row])
                deficit += part
                negative += count
                closing[:, single.row] += held
        return deficit, negative, closing


def profiles_of(exposure: Exposure, assets: Iterable[str] = ()) -> dict[str, AssetProfile]:
    """One profile per settle asset with open positions, and one (empty) per name in `assets`."""
    slope, constant = exposure.slope_and_constant()
    accounts = exposure.accounts
    account_constant = exposure.wallet + sum_by(exposure.position_account, constant, accounts)
    symbols_held = _symbols_per_account(exposure)
    single = symbols_held[exposure.position_account] == 1
    inverse_rows = exposure.inverse[exposure.position_symbol].astype(np.float64)
    has_inverse = sum_by(exposure.position_account, inverse_rows, accounts)
    inverse_leg = has_inverse[exposure.position_account] > 0.0
    position_asset = exposure.account_asset[exposure.position_account]
    by_asset = np.argsort(position_asset, kind="stable")
    bounds = np.searchsorted(position_asset[by_asset], np.arange(len(exposure.assets) + 1))
    held = {exposure.assets[index] for index in np.unique(exposure.account_asset).tolist()}
    profiles = {}
    for name in sorted(held | set(assets)):
        index = exposure.assets.index(name) if name in exposure.assets else -1
        rows = by_asset[bounds[index] : bounds[index + 1]] if index >= 0 else by_asset[:0]
        alone, hedged = rows[single[rows]], rows[~single[rows]]
        symbols = np.flatnonzero(exposure.symbol_asset == index)
        row_of = np.full(len(exposure.symbols), -1, dtype=np.intp)
        row_of[symbols] = np.arange(len(symbols))
        parts = (exposure, slope, account_constant, row_of)
        linear = _multi_rows(*parts, hedged[~inverse_leg[hedged]])
        legs = Legs(
            constant=linear.constant,
            account=linear.account,
            symbol=linear.row,
            slope=linear.slope,
            beta=exposure.beta[linear.symbol],
            long=np.maximum(linear.size, 0.0),
            short=np.maximum(-linear.size, 0.0),
        )
        profiles[name] = AssetProfile(
            asset=name,
            symbols=symbols,
            beta=exposure.beta[symbols],
            inverse=exposure.inverse[symbols],
            singles=_singles(*parts, alone),
            multi=_grouped(_multi_rows(*parts, hedged)),
            irregular=_grouped(_multi_rows(*parts, hedged[inverse_leg[hedged]])),
            intervals=(
                shock_intervals(legs, len(symbols), -1, -DEPLETION_DOWN),
                shock_intervals(legs, len(symbols), +1, DEPLETION_UP),
            ),
        )
    return profiles


def _symbols_per_account(exposure: Exposure) -> NDArray[np.int64]:
    pairs = np.sort(exposure.position_account * len(exposure.symbols) + exposure.position_symbol)
    distinct = pairs[np.r_[True, pairs[1:] != pairs[:-1]]] if len(pairs) else pairs
    return np.bincount(distinct // len(exposure.symbols), minlength=exposure.accounts)


def _singles(
    exposure: Exposure,
    slope: FloatArray,
    account_constant: FloatArray,
    row_of: IndexArray,
    rows: IndexArray,
) -> tuple[SymbolLadders, ...]:
    account = exposure.position_account[rows]
    owners, inverse = np.unique(account, return_inverse=True)
    total_slope = sum_by(inverse, slope[rows], len(owners))
    size = exposure.size[rows]
    held = np.stack(
        (
            sum_by(inverse, np.maximum(size, 0.0), len(owners)),
            sum_by(inverse, np.maximum(-size, 0.0), len(owners)),
        )
    )
    symbol = np.zeros(len(owners), dtype=np.intp)
    symbol[inverse] = exposure.position_symbol[rows]
    constant = account_constant[owners]
    order = np.argsort(symbol, kind="stable")
    bounds = np.flatnonzero(np.diff(symbol[order])) + 1
    result = []
    for group in np.split(order, bounds) if len(order) else ():
        global_symbol = int(symbol[group[0]])
        result.append(
            _symbol_ladders(
                (global_symbol, int(row_of[global_symbol])),
                constant[group],
                total_slope[group],
                held[:, group],
            )
        )
    return tuple(result)


def _symbol_ladders(
    symbol: tuple[int, int], constant: FloatArray, slope: FloatArray, held: FloatArray
) -> SymbolLadders:
    flat = slope == 0.0
    owing = flat & (constant < 0.0)
    ladders = []
    for below, chosen in ((True, slope > 0.0), (False, slope < 0.0)):
        if not chosen.any():
            continue
        with np.errstate(over="ignore"):  # a tiny slope: theta is +-inf, still in order
            threshold = -constant[chosen] / slope[chosen]
        order = np.argsort(threshold, kind="stable")
        ladders.append(
            Ladder(
                threshold=threshold[order],
                constant=prefix_sums(constant[chosen][order]),
                slope=prefix_sums(slope[chosen][order]),
                closing=prefix_sums(held[:, chosen][:, order]),
                below=below,
            )
        )
    return SymbolLadders(
        symbol=symbol[0],
        row=symbol[1],
        ladders=tuple(ladders),
        fixed_deficit=float(-constant[owing].sum()),
        fixed_count=int(owing.sum()),
        fixed_closing=held[:, owing].sum(axis=1),
    )


class _Rows(NamedTuple):
    """Multi-symbol accounts' positions, sorted by account (0..A-1)."""

    constant: FloatArray  # K per account
    account: IndexArray
    symbol: IndexArray
    row: IndexArray
    slope: FloatArray
    size: FloatArray


def _multi_rows(
    exposure: Exposure,
    slope: FloatArray,
    account_constant: FloatArray,
    row_of: IndexArray,
    rows: IndexArray,
) -> _Rows:
    chosen = rows[np.argsort(exposure.position_account[rows], kind="stable")]
    owners, account = np.unique(exposure.position_account[chosen], return_inverse=True)
    symbol = exposure.position_symbol[chosen]
    return _Rows(
        constant=account_constant[owners],
        account=account.astype(np.intp),
        symbol=symbol,
        row=row_of[symbol],
        slope=slope[chosen],
        size=exposure.size[chosen],
    )


def _grouped(rows: _Rows) -> MultiSymbol:
    legs = np.bincount(rows.account, minlength=len(rows.constant))
    first = np.concatenate(([0], np.cumsum(legs)[:-1])) if len(legs) else legs
    groups = []
    for width in np.unique(legs).tolist():
        accounts = np.flatnonzero(legs == width)
        table = first[accounts][:, None] + np.arange(width)[None, :]
        groups.append(
            LegGroup(
                constant=rows.constant[accounts],
                symbol=rows.symbol[table],
                row=rows.row[table],
                slope=rows.slope[table],
                size=rows.size[table],
            )
        )
    return MultiSymbol(tuple(groups))


def _evaluate_group(
    group: LegGroup,
    g: FloatArray,
    totals: tuple[FloatArray, NDArray[np.int64], FloatArray],
    *,
    with_closing: bool,
) -> None:
    """Add the group's losses at scenarios `g` (global symbols x n) into `totals`."""
    deficit, negative, closing = totals
    low, high = g.min(axis=1)[group.symbol], g.max(axis=1)[group.symbol]
    floor = group.constant + np.minimum(group.slope * low, group.slope * high).sum(axis=1)
    candidates = np.flatnonzero(floor < 0.0)
    if not len(candidates):
        return
    width = max(1, _CELLS_PER_CHUNK // g.shape[1])
    for first in range(0, len(candidates), width):
        chosen = candidates[first : first + width]
        symbol, slope = group.symbol[chosen], group.slope[chosen]
        equity = np.empty((len(chosen), g.shape[1]))
        equity[:] = group.constant[chosen][:, None]
        term = np.empty_like(equity)
        for leg in range(symbol.shape[1]):
            np.take(g, symbol[:, leg], axis=0, out=term)
            term *= slope[:, leg, None]
            equity += term
        owing = equity < 0.0
        deficit -= np.minimum(equity, 0.0, out=term).sum(axis=0)
        negative += owing.sum(axis=0)
        if with_closing:
            _add_closing(closing, group.row[chosen], group.size[chosen], owing)


def _add_closing(
    closing: FloatArray, row: IndexArray, size: FloatArray, owing: NDArray[np.bool_]
) -> None:
    """closing[side, row, n] += contracts of the legs (accounts x k) whose account owes."""
    rows = closing.shape[1]
    for channel, contracts in enumerate((np.maximum(size, 0.0), np.maximum(-size, 0.0))):
        for leg in range(row.shape[1]):
            held = contracts[:, leg, None] * owing
            for column in range(owing.shape[1]):
                closing[channel, :, column] += np.bincount(
                    row[:, leg], weights=held[:, column], minlength=rows
                )
