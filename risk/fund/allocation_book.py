"""One process's accounts arranged for loss allocation (SPEC §8.3, risk/fund/allocation.py).

Two questions, each over the process's accounts of one settle asset at some grid shocks:

- `weights`: what the accounts in deficit owe, carried per side and symbol, the contracts they
  hold, and the positive uPnL of the accounts with positive equity: all additive over
  processes (`WeightShare.__add__`);
- `queue`: given the contracts to deleverage per side and symbol, the ADL queue entries that can
  be among the first to reach them (risk/kernels/allocation.py). Joined over processes
  (`QueuePrefix.__add__` concatenates), the whole queue's first entries are among them: an entry
  is first in the whole queue only if it is in its own process's queue.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np

from risk.fund.cascade import asset_rows, shocked
from risk.fund.exposure import Exposure, FloatArray, IndexArray, account_order, fieldwise_sum
from risk.fund.snapshot import Market
from risk.kernels.allocation import (
    Celled,
    Positions,
    attributed_losses,
    queue_heads,
    several_equity,
    taken_everywhere,
)
from risk.kernels.allocation_singles import SingleLadders, single_ladders, single_weights
from risk.kernels.queue_cut import kept


class WeightShare(NamedTuple):
    """At n shocks: 2 (long, short) x rows x n deficits carried per side and symbol, the same
    shape of contracts held by the accounts in deficit, n positive uPnL of the accounts with
    positive equity, and 3 (entries, contracts, notional) x 2 x rows x n of the ADL queues
    there (what a queue gives when all of it is needed)."""

    loss: FloatArray
    bankrupt: FloatArray
    profit: FloatArray
    queued: FloatArray

    def __add__(self, other: object) -> WeightShare:
        return fieldwise_sum(self, other)


class QueuePrefix(NamedTuple):
    """Queue entries that may be deleveraged: the shock (column) and cell (side * rows + row)
    they queue in, their score, contracts and notional at the shocked mark."""

    column: IndexArray
    cell: IndexArray
    score: FloatArray
    contracts: FloatArray
    notional: FloatArray

    def __add__(self, other: object) -> QueuePrefix:
        assert isinstance(other, QueuePrefix)
        return QueuePrefix(
            *(np.concatenate((mine, theirs)) for mine, theirs in zip(self, other, strict=True))
        )


class _AssetPositions(NamedTuple):
    wallet: FloatArray
    positions: Positions
    several: tuple[IndexArray, IndexArray]  # accounts of 2+ positions; where each starts
    singles: SingleLadders  # the one-position accounts (risk/kernels/allocation_singles.py)
    celled: Celled  # risk/kernels/allocation.py
    inverse: np.ndarray  # per row


class AllocationBook:
    """One process's accounts, gathered per settle asset on first use, in account order."""

    def __init__(self, exposure: Exposure, market: Market) -> None:
        self.exposure = exposure
        self.market = market
        self.assets: dict[str, _AssetPositions] = {}
        self._buffer = np.zeros(0)
        self._lock = threading.Lock()

    def weights(self, asset: str, shocks: FloatArray) -> WeightShare:
        """The asset's accounts at each shock (risk/kernels/allocation.py)."""
        book = self._book(asset)
        g = self._g(asset, book, shocks)
        totals = attributed_losses(book.wallet, book.several, book.positions, g)
        single_weights(book.singles, g, totals)
        return WeightShare(*totals)

    def queue(self, asset: str, shocks: FloatArray, need: FloatArray) -> QueuePrefix:
        """The entries of each shock's queues that may be among the first to cover `need`
        (2 x rows x n contracts to deleverage per side and symbol), whatever other processes
        hold (risk/kernels/queue_cut.py `kept`)."""
        book = self._book(asset)
        g = self._g(asset, book, shocks)
        parts = []
        with self._lock:  # the equity buffer is shared between calls
            equity = self._several_equity(book, g)
            for column in np.flatnonzero((need > 0.0).any(axis=(0, 1))).tolist():
                heads = queue_heads(book.celled, equity, g, np.ascontiguousarray(need), column)
                parts.append(_kept(heads, need[:, :, column].ravel(), column))
        if not parts:
            return empty_prefix()
        return QueuePrefix(*(np.concatenate(field) for field in zip(*parts, strict=True)))

    def deleveraged(self, asset: str, shocks: FloatArray, need: FloatArray) -> FloatArray:
        """3 (positions, contracts, notional) x 2 x rows x n taken from the queues to cover
        `need` when this process holds every account (risk/kernels/allocation.py
        `taken_everywhere`)."""
        book = self._book(asset)
        g = self._g(asset, book, shocks)
        with self._lock:  # the equity buffer is shared between calls
            equity = self._several_equity(book, g)
            return taken_everywhere(book.celled, equity, g, np.ascontiguousarray(need))

    def _several_equity(self, book: _AssetPositions, g: FloatArray) -> FloatArray:
        """The equity of the accounts of several positions at g, in a buffer kept from one
        call to the next (a fresh one would be paged in every time)."""
        shape = (max(len(book.several[0]), 1), g.shape[1])
        if self._buffer.size < shape[0] * shape[1]:
            self._buffer = np.zeros(shape[0] * shape[1])
        equity = self._buffer[: shape[0] * shape[1]].reshape(shape)
        several_equity(book.wallet, book.several, book.positions, g, equity)
        return equity

    def _g(self, asset: str, book: _AssetPositions, shocks: FloatArray) -> FloatArray:
        multiplier = shocked(self.market, asset_rows(self.market, asset), shocks)
        return np.ascontiguousarray(np.where(book.inverse[:, None], 1.0 / multiplier, multiplier))

    def _book(self, asset: str) -> _AssetPositions:
        if asset not in self.assets:
            self.assets[asset] = self._gather(asset)
        return self.assets[asset]

    def _gather(self, asset: str) -> _AssetPositions:
        exposure, rows = self.exposure, asset_rows(self.market, asset)
        row_of = np.full(len(self.market.symbols), -1, dtype=np.intp)
        row_of[rows] = np.arange(len(rows))
        positions, accounts, _, counts = account_order(exposure, asset)
        slope, constant = exposure.slope_and_constant()
        symbol = exposure.position_symbol[positions]
        side = (exposure.size[positions] < 0.0).astype(np.intp)
        cell = side * len(rows) + row_of[symbol]
        order = np.argsort(cell, kind="stable").astype(np.intp)
        bounds = np.searchsorted(cell[order], np.arange(2 * len(rows) + 1)).astype(np.intp)
        account_of = np.repeat(np.arange(len(accounts)), counts).astype(np.intp)
        columns: Positions = (
            row_of[symbol],
            side,
            slope[positions],
            constant[positions],
            np.abs(exposure.size[positions]),
            1.0 / exposure.entry_notional()[positions],
        )
        celled = tuple(np.ascontiguousarray(column[order]) for column in columns[2:])
        wallet = exposure.wallet[accounts]
        alone = np.where(counts == 1, wallet, np.nan)[account_of[order]]
        several_of = np.cumsum(counts > 1) - 1
        several_of = np.where(counts > 1, several_of, -1).astype(np.intp)[account_of[order]]
        start = np.concatenate(([0], np.cumsum(counts))).astype(np.intp)
        return _AssetPositions(
            wallet=wallet,
            positions=columns,
            several=(np.flatnonzero(counts > 1).astype(np.intp), start),
            singles=_singles(wallet, counts, start, columns, 2 * len(rows)),
            celled=(celled, bounds, several_of, alone),  # type: ignore[arg-type]
            inverse=self.market.inverse[rows].astype(np.bool_),
        )


def _kept(
    heads: tuple[FloatArray, FloatArray, FloatArray, IndexArray], need: FloatArray, column: int
) -> QueuePrefix:
    """The entries of one shock's queue heads that other processes cannot push out."""
    score, contracts, notional, offsets = heads
    keep = kept(score, contracts, notional, offsets, need)
    cell = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))[keep]
    column_of = np.full(len(cell), column, dtype=np.intp)
    return QueuePrefix(column_of, cell, score[keep], contracts[keep], notional[keep])


def _singles(
    wallet: FloatArray, counts: IndexArray, start: IndexArray, columns: Positions, cells: int
) -> SingleLadders:
    """The one-position accounts' ladders: their positions are the first of their account."""
    alone = np.flatnonzero(counts == 1)
    first = start[alone]
    row, side, slope, constant, contracts = columns[:5]
    cell = side[first] * (cells // 2) + row[first]
    money = (wallet[alone], slope[first], constant[first])
    return single_ladders(cell, cells, money, contracts[first])


def empty_prefix() -> QueuePrefix:
    nothing = np.zeros(0)
    return QueuePrefix(
        np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp), nothing, nothing, nothing
    )
