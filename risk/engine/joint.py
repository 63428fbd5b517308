"""Margin accounts holding several symbols: valued afresh, then banded together (SPEC §5).

A mark tick leaves such an account to this path whenever it revalues one of its rows
(`risk.kernels.valuation.tick_rows`): its rows in other symbols may be banded, so valued at
older marks, and its level is decided from every member valued at its mark. The values are
written back to the rows, the level is settled as for any account, and an account that keeps
its level gets a band in each symbol it holds (`risk.kernels.joint`, docs/ENGINE.md).
"""

from __future__ import annotations

from typing import cast

import numpy as np
from numpy.typing import NDArray

from risk.book import float32_view, float_view, int8_view, int16_view, int32_view
from risk.engine.evaluation import FEW_MEMBERS, Evaluated, Evaluation, _symbol_groups
from risk.kernels.accounts import CHANGED, Members
from risk.kernels.joint import Bands, joint_bands
from risk.records import Transition

MEMBER_COLUMNS = 8  # the first columns of Evaluated.members, in `Members` order


class JointBands(Evaluation):
    """Evaluate accounts from fresh member values and band them in every symbol."""

    def _evaluate_jointly(
        self, accounts: list[int], trigger: str, ts: int
    ) -> tuple[Transition, ...]:
        """Re-classify accounts (as `_evaluate`) from every member valued at its mark; write
        those values and new bands back to their rows. Transitions ordered by margin account
        id."""
        names = self.margin_account_id
        named = sorted((names(account), account) for account in set(accounts))
        evaluated = self._evaluated([account for _, account in named], CHANGED)
        current = int8_view(self.margin.level)[evaluated.accounts]
        banded = evaluated.level == current
        columns = cast(Members, tuple(list(evaluated.members.values())[:MEMBER_COLUMNS]))
        bands = joint_bands(
            evaluated.offsets,
            evaluated.order,
            columns,
            self.instrument_table(),
            (evaluated.equity, evaluated.maintenance, evaluated.level),
            (self.threshold_bounds, self.thresholds.hysteresis),
            banded,
        )
        self._write_members(evaluated, bands)
        return self._settle(evaluated, trigger, ts, [identity for identity, _ in named])

    def _write_members(self, evaluated: Evaluated, bands: Bands) -> None:
        """Each member's fresh value, tier and band back onto its row, block by block (a few
        of them element by element)."""
        members, (tier, low, high) = evaluated.members, bands
        if len(tier) <= FEW_MEMBERS:
            self._write_few_members(evaluated, bands)
            return
        rows = int32_view(self.positions.row)[evaluated.pids]
        for code, where in _symbol_groups(members["symbol"]):
            block, at = self.blocks[code], rows[where]
            float_view(block.pnl)[at] = members["pnl"][where]
            float_view(block.maintenance)[at] = members["maintenance"][where]
            int16_view(block.tier)[at] = tier[where]
            float32_view(block.band_low)[at] = low[where]
            float32_view(block.band_high)[at] = high[where]

    def _write_few_members(self, evaluated: Evaluated, bands: Bands) -> None:
        """`_write_members` of a few members, one element at a time."""
        positions, blocks, members = self.positions, self.blocks, evaluated.members
        columns = zip(
            evaluated.pids.tolist(),
            members["pnl"].tolist(),
            members["maintenance"].tolist(),
            *(column.tolist() for column in bands),
            strict=True,
        )
        for pid, pnl, maintenance, tier, low, high in columns:
            block, row = blocks[positions.symbol[pid]], positions.row[pid]
            block.pnl[row], block.maintenance[row], block.tier[row] = pnl, maintenance, tier
            block.band_low[row], block.band_high[row] = low, high

    def _joint_owners(self, symbol: int) -> list[int]:
        """The owners of the block's rows that also hold other symbols, ascending."""
        owners, rows = np.unique(int32_view(self.blocks[symbol].account), return_counts=True)
        several: NDArray[np.int32] = owners[int32_view(self.margin.positions)[owners] > rows]
        return list(several.tolist())
