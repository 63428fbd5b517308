"""The mark path: a mark (or an instrument change) revalues its symbol's block (SPEC §4, §5)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from risk.book import (
    float32_view,
    float_view,
    int8_view,
    int16_view,
    int32_view,
)
from risk.engine.joint import JointBands
from risk.engine.state import _QUIET, _STALE, ACCEPTED, REJECTED, Outcome
from risk.events import (
    KIND_OR_SETTLE_CHANGE,
    UNKNOWN_SYMBOL,
    InstrumentEvent,
    MarkEvent,
)
from risk.kernels.valuation import changing_owners, tick_rows
from risk.records import Transition


class MarkPath(JointBands):
    """Marks, instrument changes and the fund projection's epoch clock."""

    def watch_epochs(self, listener: Callable[[int], None]) -> None:
        """Call `listener(at)` at every fund projection epoch (docs/FUND.md, "Live").

        Epochs are points of the mark stream, the one input every engine of a deployment sees
        whole and in the same order:
        - the multiples `at` of `projection_interval_ms`: just before the first accepted mark
          with ts >= at (a gap over several makes one epoch, the last of them);
        - `at` = ts + 1 just after an accepted mark that moved by `large_move` or more
          (`_large_move`).
        The engine then holds everything that came before that point, whatever its kind.
        The first accepted mark only starts the clock.
        """
        self.epoch_listener = listener

    def projection_clock(self) -> dict[str, Any]:
        """The epoch clock's state (a checkpoint's; `clock_version` tells when it changed)."""
        return {
            "next_epoch": self._next_epoch,
            "move_reference": list(self._move_reference),
            "move_interval": list(self._move_interval),
        }

    def restore_projection_clock(self, clock: Mapping[str, Any]) -> None:
        due = clock["next_epoch"]
        self._next_epoch = None if due is None else int(due)
        self._move_reference = [None if p is None else float(p) for p in clock["move_reference"]]
        self._move_interval = [int(interval) for interval in clock["move_interval"]]

    def _apply_mark(self, event: MarkEvent) -> Outcome:
        symbol = self.symbols.get(event.symbol)
        if symbol is None:
            return Outcome(REJECTED, UNKNOWN_SYMBOL, ())
        if event.ts < self.mark_times[symbol]:
            return _STALE
        if self.epoch_listener is not None:
            return self._apply_watched_mark(symbol, event)
        return self._set_mark(symbol, event)

    def _set_mark(self, symbol: int, event: MarkEvent) -> Outcome:
        self.marks[symbol] = self.mark_prices[symbol] = event.price
        self.mark_times[symbol] = event.ts
        self._advance(event.ts)
        self.volatility.observe(event.symbol, event.price, event.ts)
        trigger = f"mark:{event.symbol}"
        return Outcome(ACCEPTED, None, self._revalue(symbol, trigger, event.ts, retier=False))

    def _apply_instrument(self, event: InstrumentEvent) -> Outcome:
        instrument = event.instrument
        symbol = self.symbols.get(instrument.symbol)
        if symbol is None:
            self._define(instrument)
            return _QUIET
        old = self.instruments[symbol]
        if old.kind != instrument.kind or old.settle != instrument.settle:
            # Refused whether or not positions are open: the answer must not depend on which
            # accounts a worker holds, or workers would disagree on the instrument set.
            return Outcome(REJECTED, KIND_OR_SETTLE_CHANGE, ())
        self.instruments[symbol] = instrument
        self._table = None
        self.settle_assets[symbol] = self._asset(instrument.settle)
        transitions = self._revalue(symbol, "instrument", self.replay_time, retier=True)
        if self.sharding.count > 1:  # each record at the replay time of its account's shard
            times, shards, names = self.replay_times, self.account_shards, self.accounts_by_name
            transitions = tuple(
                record._replace(ts=times[shards[names[record.account]]]) for record in transitions
            )
        return Outcome(ACCEPTED, None, transitions)

    # -- epochs --------------------------------------------------------------------------------

    def _apply_watched_mark(self, symbol: int, event: MarkEvent) -> Outcome:
        """An accepted mark when epochs are watched: the epoch before it, the one after it."""
        interval = self.fund_parameters.projection_interval_ms
        due = self._next_epoch
        if due is not None and event.ts >= due:
            self._epoch(max(due, event.ts // interval * interval))
        elif due is None:
            self._next_epoch = (event.ts // interval + 1) * interval
            self.clock_version += 1
        large = self._large_move(symbol, event)
        outcome = self._set_mark(symbol, event)
        if large:
            self._epoch(event.ts + 1)
        return outcome

    def _epoch(self, at: int) -> None:
        assert self.epoch_listener is not None
        self.epoch_listener(at)
        interval = self.fund_parameters.projection_interval_ms
        self._next_epoch = (at // interval + 1) * interval
        self.clock_version += 1

    def _large_move(self, symbol: int, event: MarkEvent) -> bool:
        """Did this mark move by `large_move` or more from its symbol's reference?

        The reference is the price in force when the current interval began (the first price
        at first), or the price of the symbol's last large move since: it depends on the marks
        alone, so every engine of a deployment finds the same large moves.
        """
        parameters = self.fund_parameters
        interval = event.ts // parameters.projection_interval_ms
        while len(self._move_reference) <= symbol:
            self._move_reference.append(None)
            self._move_interval.append(-1)
        if interval > self._move_interval[symbol]:
            previous = self.marks[symbol]
            self._move_reference[symbol] = event.price if previous is None else previous
            self._move_interval[symbol] = interval
            self.clock_version += 1
        reference = self._move_reference[symbol]
        assert reference is not None
        if abs(event.price / reference - 1.0) < parameters.large_move:
            return False
        self._move_reference[symbol] = event.price
        self.clock_version += 1
        return True

    def _revalue(
        self, symbol: int, trigger: str, ts: int, *, retier: bool
    ) -> tuple[Transition, ...]:
        """Revalue every position of `symbol` and re-classify their margin accounts."""
        if not len(self.blocks[symbol]):
            return ()
        changed, joint = self._revalue_block(symbol, retier=retier)
        if not joint:
            return self._evaluate(changed, trigger, ts)
        return self._evaluate_jointly(changed + joint, trigger, ts)

    def _revalue_block(self, symbol: int, *, retier: bool) -> tuple[list[int], list[int]]:
        """(the one-symbol margin accounts of `symbol` whose level may change, the accounts
        that also hold other symbols and were revalued), each ascending.

        A mark tick revalues only the rows whose band does not hold the new mark
        (`risk.kernels.valuation.tick_rows`); a new tier table, or a symbol without a mark,
        revalues every row and drops the block's bands, and with them the joint bands of
        every owner that holds other symbols too. The numpy views made here die with this
        call, before anything can resize a column.
        """
        block, margin = self.blocks[symbol], self.margin
        instrument, mark = self.instruments[symbol], self.marks[symbol]
        accounts = (
            float_view(margin.equity),
            float_view(margin.maintenance),
            int8_view(margin.level),
            int32_view(margin.positions),
        )
        thresholds = (self.threshold_bounds, self.thresholds.hysteresis)
        slots = self._account_slots(len(margin))
        if retier or mark is None:
            self._revalue_rows(symbol, retier=retier)
            float32_view(block.band_low)[:] = np.inf
            float32_view(block.band_high)[:] = -np.inf
            changed = changing_owners(int32_view(block.account), accounts, thresholds, slots)
            return list(changed.tolist()), self._joint_owners(symbol)
        tiers = instrument.tiers
        changed, joint, revalued = tick_rows(
            instrument.kind == "linear",
            instrument.contract_size,
            mark,
            self._value_columns(block),
            int16_view(block.tier),
            int32_view(block.account),
            (float32_view(block.band_low), float32_view(block.band_high)),
            (tiers.cap_array, tiers.mmr_array, tiers.cum_array),
            accounts,
            thresholds,
            slots,
            self._tick_scratch(len(block)),
        )
        block.skipped = block.skipped or revalued < len(block)
        return list(changed.tolist()), list(joint.tolist())
