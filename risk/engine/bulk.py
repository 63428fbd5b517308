"""Events in bulk: `apply_batch` over a columnar batch (`risk.batch`, docs/ENGINE.md "Bulk").

The rows are resolved to interned indices once (account name, symbol or asset, the margin
accounts their identity names), then `risk.kernels.updates.apply_updates` applies every run of
position updates and balances it can decide alone. A row it stops at goes through the
per-event path (`Engine.apply`), built into an event object only then; a row whose level
changes gets its record from `Evaluation._evaluate`. Results and their order are those of
`apply` called on each event.

Resolutions may go stale while the per-event path runs: a margin account it frees or creates,
an account name a retention sweep releases. The kernel checks that every margin account it is
given still has the row's identity and leaves the row to Python otherwise; after a sweep the
remaining rows are resolved again, and a row left to Python is first resolved again once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import NDArray

from risk.batch import BALANCE, POSITION, EventBatch
from risk.book import int32_view
from risk.engine.evaluation import Evaluation
from risk.engine.state import ACCEPTED, KEY_SPAN, REJECTED, STALE, Outcome
from risk.events import Event, Rejection
from risk.kernels.accounts import Table
from risk.kernels.updates import APPLIED, DECIDE, apply_updates
from risk.kernels.updates import STALE as STALE_ROW
from risk.records import Transition

STATUSES: Final = (ACCEPTED, REJECTED, STALE)
_UNKNOWN: Final = (-1, -1, -1, -1)
_CODES: Final = {status: code for code, status in enumerate(STATUSES)}
_TRIGGERS: Final = {POSITION: "position", BALANCE: "balance"}


@dataclass
class BatchOutcome:
    """Per row its status code (an index into STATUSES) and whether the compiled kernel
    decided it (`compiled`; False: the per-event path); the reasons of rejected rows; the
    transitions by row, in row order."""

    status: NDArray[np.int8]
    compiled: NDArray[np.bool_]
    reasons: dict[int, str] = field(default_factory=dict)
    transitions: list[tuple[int, tuple[Transition, ...]]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        tally = np.bincount(self.status, minlength=len(STATUSES))
        return {status: int(tally[code]) for code, status in enumerate(STATUSES)}

    def outcomes(self) -> list[Outcome]:
        """One `Outcome` per row, as `apply` returns them."""
        caused = dict(self.transitions)
        return [
            Outcome(STATUSES[code], self.reasons.get(row), caused.get(row, ()))
            for row, code in enumerate(self.status.tolist())
        ]


def _candidate(batch: EventBatch, row: int, found: tuple[int, int, int, int]) -> bool:
    """May the kernel decide this row alone? (It checks the rest itself.)"""
    kind = batch.kind[row]
    if kind == POSITION:
        return found[1] >= 0 and (found[2] >= 0 or found[3] >= 0) and batch.value[row] != 0.0
    return kind == BALANCE and found[2] >= 0


class BulkPath(Evaluation):
    """`apply_batch`: compiled runs of position updates and balances, the rest one by one."""

    _settle_table: Table | None = None
    _settle_column: NDArray[np.int32]

    def apply(self, event: Event | Rejection) -> Outcome:
        raise NotImplementedError  # risk.engine.engine.Engine

    def apply_batch(self, batch: EventBatch) -> BatchOutcome:
        """Apply the rows in order; the same results as `apply` on each row's event."""
        count = len(batch)
        floats, codes = batch.numbers()
        found = [self._resolved(batch, row) for row in range(count)]
        resolved = np.array(found, dtype=np.int64).reshape(-1, 4)
        result = BatchOutcome(np.zeros(count, dtype=np.int8), np.zeros(count, dtype=np.bool_))
        outcome, owners = np.zeros(count, dtype=np.int8), np.full(count, -1, dtype=np.int64)
        row = 0
        while row < count:
            if _candidate(batch, row, found[row]):
                stop = self._run(row, (codes, floats, resolved), (outcome, owners))
                if stop > row:
                    result.compiled[row:stop] = True
                    if outcome[stop - 1] == DECIDE:  # applied; its level changes
                        result.transitions.append(
                            (stop - 1, self._decided(batch, stop - 1, owners))
                        )
                        outcome[stop - 1] = APPLIED
                    row = stop
                    continue
            elif batch.kind[row] in (POSITION, BALANCE):
                fresh = self._resolved(batch, row)  # the rows before may have created it
                if fresh != found[row]:
                    found[row] = fresh
                    resolved[row] = fresh
                    continue
            swept = self._apply_one(batch, row, result)
            if swept:  # account names may have been released
                found[row + 1 :] = [self._resolved(batch, after) for after in range(row + 1, count)]
                resolved[row + 1 :] = np.array(found[row + 1 :], dtype=np.int64).reshape(-1, 4)
            row += 1
        result.status[outcome == STALE_ROW] = _CODES[STALE]
        return result

    def _decided(
        self, batch: EventBatch, row: int, owners: NDArray[np.int64]
    ) -> tuple[Transition, ...]:
        """The records of a row the kernel applied whose account changes level."""
        trigger = _TRIGGERS[batch.kind[row]]
        return self._evaluate((int(owners[row]),), trigger, batch.ts[row])

    def _run(
        self,
        row: int,
        rows: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]],
        results: tuple[NDArray[np.int8], NDArray[np.int64]],
    ) -> int:
        """`apply_updates` from `row` over the book as it is now."""
        times = np.array(self.replay_times, dtype=np.int64)
        sweep = np.array((self.next_sweep, self.horizon_ms), dtype=np.int64)
        codes, floats, resolved = rows
        stop: int = apply_updates(
            row,
            (codes, floats, resolved),
            self.book_addresses(),
            self._market(),
            (self.threshold_bounds, self.thresholds.hysteresis),
            (sweep, times, int32_view(self.account_shards)),
            results,
        )
        self.replay_times = times.tolist()
        return stop

    def _apply_one(self, batch: EventBatch, row: int, result: BatchOutcome) -> bool:
        """The per-event path for one row; did a retention sweep run?"""
        sweep = self.next_sweep
        outcome = self.apply(batch.event(row))
        result.status[row] = _CODES[outcome.status]
        if outcome.reason is not None:
            result.reasons[row] = outcome.reason
        if outcome.transitions:
            result.transitions.append((row, outcome.transitions))
        return self.next_sweep != sweep

    def _resolved(self, batch: EventBatch, row: int) -> tuple[int, int, int, int]:
        """(symbol or asset, account, cross margin account, isolated margin account) of a
        position or balance row as the engine knows them now, -1 for unknown."""
        kind = batch.kind[row]
        if kind != POSITION and kind != BALANCE:  # noqa: PLR1714
            return _UNKNOWN
        account = self.accounts_by_name.get(batch.name[row], -1)
        if kind == BALANCE:
            asset = self.assets_by_name.get(batch.key[row], -1)
            if asset < 0 or account < 0:
                return asset, account, -1, -1
            return asset, account, self.cross_accounts.get(account * KEY_SPAN + asset, -1), -1
        symbol = self.symbols.get(batch.key[row], -1)
        if symbol < 0 or account < 0:
            return symbol, account, -1, -1
        identity = (account * KEY_SPAN + symbol) * 3 + batch.side[row]
        cross = self.cross_accounts.get(account * KEY_SPAN + self.settle_assets[symbol], -1)
        return symbol, account, cross, self.isolated_accounts.get(identity, -1)

    def _market(self) -> tuple[Table, NDArray[np.int32], NDArray[np.float64]]:
        """(instrument table, settle asset per symbol, marks) as the kernel reads them; the
        settle column is made again with the table (after an instrument event)."""
        table = self.instrument_table()
        if self._settle_table is not table:
            self._settle_table = table
            self._settle_column = np.array(self.settle_assets, dtype=np.int32)
        return table, self._settle_column, self.mark_prices
