"""The reconciliation sweep: every margin account recomputed from its positions, a slice at a
time, and repaired where the running totals drifted (issue: hardening).

The running equity and maintenance margin are sums of deltas. `reconcile` walks the book from
where the last call stopped, compares each account's running totals (as
`Engine.current_totals` reads them) with a fresh recompute at the current marks
(`risk.kernels.reconcile`), and repairs an account beyond `tolerance` x its scale: its
members are valued afresh, its canonical totals written and its bands set again from them
(`risk.kernels.joint.value_jointly`). An account whose level the repair would change is left
unbanded, so its next mark or event decides it; the sweep publishes nothing itself.

`now` (seconds, any clock the caller keeps) dates the passes: the age of the oldest
unswept account is at most now minus the start of the last completed pass.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from risk.book import int32_view
from risk.engine.bulk import BulkPath
from risk.engine.joint import JointBands
from risk.kernels.joint import value_jointly
from risk.kernels.reconcile import sweep_accounts

TOLERANCE = 1e-9  # relative to the account's scale (risk.kernels.reconcile)


class Drift(NamedTuple):
    """A repaired margin account: what the running totals were off by, and its scale."""

    margin_account: str
    equity: float
    maintenance: float
    scale: float


class Reconciled(NamedTuple):
    accounts: int  # margin accounts checked by this call
    positions: int  # positions valued
    repaired: tuple[Drift, ...]
    completed: bool  # the call reached the end of the book: a pass is complete


class Reconciliation(JointBands, BulkPath):
    """`reconcile`: one slice of the sweep; `reconciliation_age`: how old the oldest check is."""

    _reconcile_cursor: int = 0
    _pass_started: float | None = None  # when the current pass began
    _pass_completed: float | None = None  # when the last completed pass began

    def reconcile(self, now: float, budget: int, tolerance: float = TOLERANCE) -> Reconciled:
        """Check margin accounts from the cursor until `budget` units of work (a position
        valued, or an account without any) are done; repair those that drifted."""
        if self._pass_started is None:
            self._pass_started = now
        start = min(self._reconcile_cursor, len(self.margin))
        found = np.zeros((max(min(budget, len(self.margin) - start), 1), 4))  # >= accounts
        after, accounts, positions, drifted = sweep_accounts(
            start, budget, self.book_addresses(), self._market(), tolerance, found
        )
        repaired = self._repair(found[:drifted])
        self._reconcile_cursor = after
        completed = after == 0
        if completed:
            self._pass_completed, self._pass_started = self._pass_started, now
        return Reconciled(accounts, positions, repaired, completed)

    def reconciliation_age(self, now: float) -> float:
        """Seconds since the oldest account was last checked (an upper bound): since the
        last completed pass began, or since the sweep began before any pass completed."""
        since = self._pass_completed if self._pass_completed is not None else self._pass_started
        return 0.0 if since is None else now - since

    def _repair(self, found: np.ndarray) -> tuple[Drift, ...]:
        if not len(found):
            return ()
        slots = found[:, 0].astype(np.int64)
        held = int32_view(self.margin.positions)[slots] > 0
        for slot in slots[~held].tolist():  # nothing held: its equity is its wallet
            self.margin.equity[slot] = self.margin.wallet[slot]
            self.margin.maintenance[slot] = 0.0
        if held.any():
            market = (self.instrument_table(), self.mark_prices)
            thresholds = (self.threshold_bounds, self.thresholds.hysteresis)
            value_jointly(slots[held], self.book_addresses(), market, thresholds)
        name = self.margin_account_id
        return tuple(
            Drift(name(int(slot)), float(equity), float(maintenance), float(scale))
            for slot, equity, maintenance, scale in found.tolist()
        )
