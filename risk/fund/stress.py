"""Stress grid and depletion shocks (SPEC §8).

A shock x moves every mark at once to  mark * max(1 + beta * x, 0.001)  (beta per
instrument). drawdown(x) of a settle asset = sum of the deficits max(0, -equity) of its margin
accounts at the shocked marks, plus the cost of closing the positions those accounts hold
against the shocked depth snapshot (risk/fund/slippage.py).

Depletion shock: the smallest |x| (x in [-0.99, 0) down, (0, 10] up) with
drawdown(x) >= balance, on the lattice x = k * 1e-4, so the answer is exact to 1e-4 and
rounds outwards (towards more danger). Search: drawdown at a coarse lattice (every 0.05 to
|x| = 1, then every 0.25), then a 32-way search inside the first coarse step that reaches the
balance. Without hedged multi-symbol accounts or depth each account's deficit grows
monotonically with |x| (g is monotone in x), so drawdown(x) is monotone and the search finds
the first crossing; otherwise it finds the first crossing visible at the coarse lattice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
from numpy.typing import NDArray

from risk.fund.exposure import Exposure, FloatArray
from risk.fund.parameters import DEPLETION_DOWN, DEPLETION_STEP, DEPLETION_UP, MARK_FLOOR
from risk.fund.profile import AssetProfile
from risk.fund.slippage import DepthBook, close_cost

_SEARCH_WAYS: Final = 32
_DOWN_STEPS: Final = round(-DEPLETION_DOWN / DEPLETION_STEP)
_UP_STEPS: Final = round(DEPLETION_UP / DEPLETION_STEP)


def _coarse(limit: int) -> NDArray[np.int64]:
    fine = np.arange(500, min(limit, 10_000) + 1, 500)
    wide = np.arange(12_500, limit + 1, 2_500)
    points = np.concatenate((fine, wide))
    return points if points[-1] == limit else np.append(points, limit)


COARSE_DOWN: Final = _coarse(_DOWN_STEPS)
COARSE_UP: Final = _coarse(_UP_STEPS)


class StressPoint(NamedTuple):
    shock: float
    drawdown: float
    bankrupt_accounts: int


@dataclass(frozen=True, slots=True)
class StressModel:
    """One settle asset's book, ready to be shocked."""

    exposure: Exposure
    profile: AssetProfile
    books: dict[int, DepthBook]  # by global symbol index

    def drawdown(self, shocks: FloatArray) -> tuple[FloatArray, NDArray[np.int64]]:
        """(drawdown, accounts with negative equity) at each shock x."""
        exposure, profile = self.exposure, self.profile
        evaluation = profile.shock(shocks)
        total = evaluation.deficit.copy()
        for row, symbol in enumerate(profile.symbols.tolist()):
            book = self.books.get(symbol)
            mark = float(exposure.mark[symbol])
            if book is None or not np.isfinite(mark):
                continue
            total += close_cost(
                book,
                inverse=bool(exposure.inverse[symbol]),
                contract_size=float(exposure.contract_size[symbol]),
                mark=mark,
                multiplier=np.maximum(1.0 + exposure.beta[symbol] * shocks, MARK_FLOOR),
                closing=evaluation.closing[:, row],
            )
        return total, evaluation.negative

    def grid(self, shocks: tuple[float, ...]) -> list[StressPoint]:
        drawdown, negative = self.drawdown(np.array(shocks, dtype=np.float64))
        return [
            StressPoint(shock, float(loss), int(count))
            for shock, loss, count in zip(shocks, drawdown.tolist(), negative.tolist(), strict=True)
        ]

    def depletion_shock(self, balance: float | None, direction: int) -> float | None:
        """The smallest |x| in `direction` (-1 down, +1 up) with drawdown(x) >= balance."""
        if balance is None:
            return None
        coarse = COARSE_DOWN if direction < 0 else COARSE_UP
        reached = self._reaches(coarse, balance, direction)
        if not reached.any():
            return None
        first = int(np.argmax(reached))
        low, high = (int(coarse[first - 1]) if first else 0), int(coarse[first])
        while high - low > 1:
            inner = np.unique(np.linspace(low, high, _SEARCH_WAYS + 1).round().astype(np.int64))
            inner = inner[(inner > low) & (inner < high)]
            reached = self._reaches(inner, balance, direction)
            if reached.any():
                index = int(np.argmax(reached))
                high, low = int(inner[index]), int(inner[index - 1]) if index else low
            else:
                low = int(inner[-1])
        return direction * high / round(1 / DEPLETION_STEP)

    def _reaches(
        self, steps: NDArray[np.int64], balance: float, direction: int
    ) -> NDArray[np.bool_]:
        shocks = direction * steps.astype(np.float64) / round(1 / DEPLETION_STEP)
        drawdown, _ = self.drawdown(shocks)
        reached: NDArray[np.bool_] = drawdown >= balance
        return reached
