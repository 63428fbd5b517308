"""Margin accounts holding several symbols: valued afresh, then banded together (SPEC §5).

A mark tick leaves such an account to this path whenever it revalues one of its rows
(`risk.kernels.valuation.tick_rows`): its rows in other symbols may be banded, so valued at
older marks, and its level is decided from every member valued at its mark. The values are
written back to the rows, the level is settled as for any account, and an account that keeps
its level gets a band in each symbol it holds (`risk.kernels.joint`, docs/ENGINE.md).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from risk.book import int32_view
from risk.engine.evaluation import Evaluation
from risk.kernels.accounts import CHANGED
from risk.kernels.joint import value_jointly
from risk.records import Transition


class JointBands(Evaluation):
    """Evaluate accounts from fresh member values and band them in every symbol."""

    def _evaluate_jointly(
        self, accounts: list[int], trigger: str, ts: int
    ) -> tuple[Transition, ...]:
        """Re-classify accounts (as `_evaluate`) from every member valued at its mark; write
        those values and new bands back to their rows (one compiled pass,
        `risk.kernels.joint.value_jointly`). Transitions ordered by margin account id."""
        chosen = np.array(sorted(set(accounts)), dtype=np.int64)
        market = (self.instrument_table(), self.mark_prices)
        thresholds = (self.threshold_bounds, self.thresholds.hysteresis)
        changed = value_jointly(chosen, self.book_addresses(), market, thresholds)
        if not changed.any():
            return ()
        names = self.margin_account_id
        named = sorted((names(account), account) for account in chosen[changed].tolist())
        evaluated = self._evaluated([account for _, account in named], CHANGED)
        return self._settle(evaluated, trigger, ts, [identity for identity, _ in named])

    def _joint_owners(self, symbol: int) -> list[int]:
        """The owners of the block's rows that also hold other symbols, ascending."""
        owners, rows = np.unique(int32_view(self.blocks[symbol].account), return_counts=True)
        several: NDArray[np.int32] = owners[int32_view(self.margin.positions)[owners] > rows]
        return list(several.tolist())
