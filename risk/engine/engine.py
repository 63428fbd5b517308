"""The risk engine: `apply(event) -> Outcome` over a numpy-backed book (SPEC §3-§7, §9).

The engine owns no clock and reads no settings: event time comes in with the events, and
"replay time" is the largest `ts` applied so far (kept per shard of accounts, `risk.sharding`,
when one engine holds several Kafka partitions). The same engine serves the Kafka workers,
`riskmon replay` and the embedded demo.

Hot path: a mark for symbol S runs one compiled pass over S's block of positions
(`risk.kernels.valuation.tick_rows`): rows whose price band holds the mark are skipped, the
others are revalued and their deltas move the owners' running totals; only the accounts whose
level may change, and the joint accounts revalued, reach Python code (docs/ENGINE.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from risk.batch import EventBatch
from risk.engine.bulk import BulkPath
from risk.engine.extraction import Extraction
from risk.engine.handover import Handover
from risk.engine.loading import Loading
from risk.engine.marks import MarkPath
from risk.engine.queries import Queries
from risk.engine.reconcile import Reconciliation
from risk.engine.state import _QUIET, _STALE, ACCEPTED, REJECTED, Outcome, Snapshot
from risk.events import (
    UNKNOWN_SYMBOL,
    BalanceEvent,
    DepthEvent,
    Event,
    FundEvent,
    InstrumentEvent,
    MarkEvent,
    PositionEvent,
    Rejection,
)
from risk.fund import FundParameters
from risk.instruments import Instrument
from risk.levels import Thresholds
from risk.retention import Retention
from risk.sharding import Sharding


class Engine(MarkPath, Handover, Loading, Extraction, Queries, Reconciliation, BulkPath):
    """Margin state of every account and the transitions between risk levels."""

    def __init__(
        self,
        instruments: Iterable[Instrument],
        thresholds: Thresholds | None = None,
        fund: FundParameters | None = None,
        retention: Retention | None = None,
        sharding: Sharding | None = None,
    ) -> None:
        super().__init__(thresholds, fund, retention, sharding)
        self._handlers: dict[type, Callable[[Any], Outcome]] = {
            Rejection: self._reject,
            MarkEvent: self._apply_mark,
            PositionEvent: self._apply_position,
            BalanceEvent: self._apply_balance,
            InstrumentEvent: self._apply_instrument,
            FundEvent: self._apply_fund,
            DepthEvent: self._apply_depth,
        }
        for instrument in instruments:
            self._define(instrument)

    # -- entry points -------------------------------------------------------------------------

    def apply(self, event: Event | Rejection) -> Outcome:
        """Apply one parsed event (a `Rejection` is counted as such and changes nothing)."""
        return self._handlers[type(event)](event)

    def apply_events(self, events: Iterable[Event | Rejection]) -> list[Outcome]:
        """Apply parsed events in order, in bulk (`apply_batch`); an `Outcome` for each."""
        return self.apply_batch(EventBatch.from_events(events)).outcomes()

    # -- handlers ------------------------------------------------------------------------------

    def _reject(self, event: Rejection) -> Outcome:
        return Outcome(REJECTED, event.reason, ())

    def _apply_fund(self, event: FundEvent) -> Outcome:
        outcome = self._keep_latest(self.funds, event.asset, event)
        if outcome.status == ACCEPTED:
            self.fund_ledger.record(event.asset, event.ts, event.balance)
        return outcome

    def _apply_depth(self, event: DepthEvent) -> Outcome:
        if event.symbol not in self.symbols:
            return Outcome(REJECTED, UNKNOWN_SYMBOL, ())
        return self._keep_latest(self.depth, event.symbol, event)

    def _keep_latest(self, latest: dict[str, Snapshot], key: str, event: Snapshot) -> Outcome:
        """Keep the newest snapshot per key; an older `ts` is stale."""
        current = latest.get(key)
        if current is not None and event.ts < current.ts:
            return _STALE
        latest[key] = event
        self._advance(event.ts)
        return _QUIET
