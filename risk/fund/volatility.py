"""Online volatility and correlation of the marks: an EWMA covariance on a bar clock.

Marks arrive at irregular times and never together, so co-movement is measured on a common
clock: event time is cut into bars of `bar_ms`, and each symbol's price at a bar's end is its
last mark at or before that end (previous tick). When the clock passes one or more bar ends,
the log returns since the last closed bar, r_s = ln(P_s / P_s,start), update

    Sigma <- lambda^k * Sigma + (1 - lambda^k) * r r^T / k

where k is the number of bars that elapsed: a gap of k bars is one observation of k bars'
variance, spread evenly, and weighs as k bars of decay. A symbol without a mark in a bar has
r = 0 in it (the price did not move as far as anyone can tell), which biases correlation down
when marks are sparse (the Epps effect). Each symbol starts at the prior variance per bar with
zero correlation, so a symbol without history is neither riskless nor perfectly correlated.
A mark whose `ts` falls in an already-closed bar is counted in the current one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray


class EwmaCovariance:
    """Per-bar log-return covariance of every symbol seen, in the order first seen."""

    __slots__ = (
        "bar",
        "bar_ms",
        "covariance",
        "decay",
        "last",
        "prior",
        "start",
        "symbols",
        "version",
    )

    def __init__(self, bar_ms: int, decay: float, prior_bar_variance: float) -> None:
        self.bar_ms = bar_ms
        self.decay = decay
        self.prior = prior_bar_variance
        self.bar: int | None = None
        self.symbols: dict[str, int] = {}
        self.last: list[float] = []
        self.start: list[float] = []
        self.covariance: NDArray[np.float64] = np.zeros((0, 0))
        self.version = 0  # changes when a bar closes or a symbol is added

    def observe(self, symbol: str, price: float, ts: int) -> None:
        """Take one accepted mark (price > 0, `ts` in ms)."""
        bar = ts // self.bar_ms
        if self.bar is None:
            self.bar = bar
        elif bar > self.bar:
            self._close(bar - self.bar)
            self.bar = bar
        index = self.symbols.get(symbol)
        if index is None:
            self._add(symbol, price)
        else:
            self.last[index] = price

    def matrix(self, symbols: list[str]) -> NDArray[np.float64]:
        """The per-bar covariance of `symbols` (prior variance for a symbol never seen)."""
        size = len(symbols)
        result = np.diag(np.full(size, self.prior))
        known = [
            (row, self.symbols[name]) for row, name in enumerate(symbols) if name in self.symbols
        ]
        if known:
            rows, columns = (np.array(part, dtype=np.intp) for part in zip(*known, strict=True))
            result[np.ix_(rows, rows)] = self.covariance[np.ix_(columns, columns)]
        return result

    def _close(self, bars: int) -> None:
        returns = np.log(np.array(self.last) / np.array(self.start))
        weight = self.decay**bars
        self.covariance *= weight
        self.covariance += (1.0 - weight) / bars * np.outer(returns, returns)
        self.start = list(self.last)
        self.version += 1

    def _add(self, symbol: str, price: float) -> None:
        size = len(self.symbols)
        self.symbols[symbol] = size
        self.last.append(price)
        self.start.append(price)
        grown = np.zeros((size + 1, size + 1))
        grown[:size, :size] = self.covariance
        grown[size, size] = self.prior
        self.covariance = grown
        self.version += 1

    def state(self) -> dict[str, Any]:
        """Everything but the covariance, which a checkpoint stores by rows (`rows`)."""
        return {
            "bar": self.bar,
            "symbols": list(self.symbols),
            "last": list(self.last),
            "start": list(self.start),
        }

    def rows(self, first: int, stop: int) -> list[list[float]]:
        rows: list[list[float]] = self.covariance[first:stop].tolist()
        return rows

    def restore(self, state: Mapping[str, Any], rows: list[list[float]]) -> None:
        """Undo `state` and `rows` (all of them, in order): the estimator as it was."""
        self.bar = None if state["bar"] is None else int(state["bar"])
        self.symbols = {str(name): index for index, name in enumerate(state["symbols"])}
        self.last = [float(price) for price in state["last"]]
        self.start = [float(price) for price in state["start"]]
        covariance = np.array(rows, dtype=np.float64).reshape(len(self.symbols), len(self.symbols))
        self.covariance = covariance

    def volatility(self, symbol: str, horizon_ms: int) -> float | None:
        """sqrt(variance per bar * bars in the horizon), or None for a symbol never seen."""
        index = self.symbols.get(symbol)
        if index is None:
            return None
        return math.sqrt(self.covariance[index, index] * horizon_ms / self.bar_ms)
