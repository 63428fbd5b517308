"""The risk engine: `apply(event) -> Outcome` over a numpy-backed book (SPEC §3-§7, §9).

The engine owns no clock and reads no settings: event time comes in with the events, and
"replay time" is the largest `ts` applied so far. The same engine serves the Kafka workers,
`riskmon replay` and the embedded demo.

Hot path: a mark for symbol S revalues S's block of positions with array operations, scatters
the PnL and maintenance deltas into the margin-account columns (`np.add.at`), and re-classifies
exactly the owning accounts; only accounts whose level changes reach Python code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple, TypeVar

import numpy as np

from risk.book import (
    CROSS,
    ISOLATED,
    MODES,
    NO_POSITION,
    NO_SEQ,
    SIDES,
    MarginAccounts,
    PositionIndex,
    SymbolBlock,
    float_view,
    int8_view,
    int16_view,
    int32_view,
)
from risk.events import (
    KIND_OR_SETTLE_CHANGE,
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
from risk.fund import EwmaCovariance, FundLedger, FundParameters
from risk.instruments import Instrument
from risk.levels import LEVEL_NAMES, Level, Thresholds, margin_ratio
from risk.prices import BANKRUPTCY, LIQUIDATION, Leg, solve_price
from risk.records import AccountView, PositionView, Transition
from risk.valuation import notional_of, value_block, value_position

ACCEPTED: Final = "accepted"
REJECTED: Final = "rejected"
STALE: Final = "stale"
KEY_SPAN: Final = 1 << 24
SIDE_CODES: Final = {name: code for code, name in enumerate(SIDES)}


class Outcome(NamedTuple):
    """What applying one event did: its status, the reject reason, the transitions it caused."""

    status: str
    reason: str | None
    transitions: tuple[Transition, ...]


Snapshot = TypeVar("Snapshot", FundEvent, DepthEvent)
_STALE: Final = Outcome(STALE, None, ())
_QUIET: Final = Outcome(ACCEPTED, None, ())


class Engine:
    """Margin state of every account and the transitions between risk levels."""

    def __init__(
        self,
        instruments: Iterable[Instrument],
        thresholds: Thresholds | None = None,
        fund: FundParameters | None = None,
    ) -> None:
        self.thresholds = thresholds or Thresholds()
        self.fund_parameters = fund or FundParameters()
        self.fund_ledger = FundLedger(self.fund_parameters.drawdown_window_ms)
        self.volatility = EwmaCovariance(
            self.fund_parameters.bar_ms,
            self.fund_parameters.decay,
            self.fund_parameters.prior_bar_variance,
        )
        self.replay_time = 0
        self.instruments: list[Instrument] = []
        self.blocks: list[SymbolBlock] = []
        self.marks: list[float | None] = []
        self.mark_times: list[int] = []
        self.symbols: dict[str, int] = {}
        self.settle_assets: list[int] = []
        self.account_names: list[str] = []
        self.asset_names: list[str] = []
        self.accounts_by_name: dict[str, int] = {}
        self.assets_by_name: dict[str, int] = {}
        self.cross_accounts: dict[int, int] = {}
        self.isolated_accounts: dict[int, int] = {}
        self.tombstones: dict[int, tuple[int, int]] = {}
        self.carried_counts: dict[str, int] = {}
        self.funds: dict[str, FundEvent] = {}
        self.depth: dict[str, DepthEvent] = {}
        self.epoch_listener: Callable[[int], None] | None = None
        self._next_epoch: int | None = None
        self._move_reference: list[float | None] = []
        self._move_interval: list[int] = []
        self.clock_version = 0
        self.positions = PositionIndex()
        self.margin = MarginAccounts()
        self._namer = _Namer(self.account_names, self.asset_names, self.instruments, self.margin)
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

    def apply_batch(self, events: Iterable[Event | Rejection]) -> list[Outcome]:
        """Apply events in order; the same result as calling `apply` on each."""
        handlers = self._handlers
        return [handlers[type(event)](event) for event in events]

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

    # -- handlers ------------------------------------------------------------------------------

    def _reject(self, event: Rejection) -> Outcome:
        return Outcome(REJECTED, event.reason, ())

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
        self.marks[symbol] = event.price
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
        self.settle_assets[symbol] = self._asset(instrument.settle)
        transitions = self._revalue(symbol, "instrument", self.replay_time, retier=True)
        return Outcome(ACCEPTED, None, transitions)

    def _apply_balance(self, event: BalanceEvent) -> Outcome:
        account, asset = self._account(event.account), self._asset(event.asset)
        margin = self.margin
        key = account * KEY_SPAN + asset
        target = self.cross_accounts.get(key)
        if target is None:
            target = self._new_margin_account(account, CROSS, asset, NO_POSITION, 0)
            self.cross_accounts[key] = target
        last_seq, last_ts = margin.balance_seq[target], margin.balance_ts[target]
        if _older(event.seq, event.ts, last_seq, last_ts):
            return _STALE
        self._advance(event.ts)
        margin.balance_seq[target] = NO_SEQ if event.seq is None else event.seq
        margin.balance_ts[target] = event.ts
        if not margin.positions[target]:
            margin.wallet[target] = margin.equity[target] = event.wallet
            return _QUIET
        margin.equity[target] += event.wallet - margin.wallet[target]
        margin.wallet[target] = event.wallet
        return Outcome(ACCEPTED, None, self._evaluate([target], "balance", event.ts))

    def _apply_position(self, event: PositionEvent) -> Outcome:
        symbol = self.symbols.get(event.symbol)
        if symbol is None:
            return Outcome(REJECTED, UNKNOWN_SYMBOL, ())
        account = self._account(event.account)
        side = SIDE_CODES[event.position_side]
        identity = (account * KEY_SPAN + symbol) * 3 + side
        pid, owner = self._find_position(account, symbol, side, identity)
        if self._is_stale(pid, identity, event.seq, event.ts):
            return _STALE
        self._advance(event.ts)
        seq = NO_SEQ if event.seq is None else event.seq
        if event.size == 0.0:
            self.tombstones[identity] = (seq, event.ts)
            if pid == NO_POSITION:
                return _QUIET
            self._close_position(pid, owner)
            return Outcome(ACCEPTED, None, self._evaluate((owner,), "position", event.ts))
        target = self._owner_for(event.mode, account, symbol, side, identity)
        affected: tuple[int, ...] = (target,)
        if pid != NO_POSITION and owner != target:  # the position changes margin mode
            self._close_position(pid, owner)
            affected, pid = (owner, target), NO_POSITION
        if pid == NO_POSITION:
            self.tombstones.pop(identity, None)
        pid = self._place_position(pid, target, symbol, side, event)
        self.positions.seq[pid], self.positions.ts[pid] = seq, event.ts
        return Outcome(ACCEPTED, None, self._evaluate(affected, "position", event.ts))

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

    # -- positions -----------------------------------------------------------------------------

    def _find_position(
        self, account: int, symbol: int, side: int, identity: int
    ) -> tuple[int, int]:
        """(pid, margin account) of the open position with this identity, or NO_POSITION twice."""
        positions, margin = self.positions, self.margin
        cross = self.cross_accounts.get(account * KEY_SPAN + self.settle_assets[symbol])
        if cross is not None:
            pid = margin.head[cross]
            while pid != NO_POSITION:
                if positions.symbol[pid] == symbol and positions.side[pid] == side:
                    return pid, cross
                pid = positions.next[pid]
        isolated = self.isolated_accounts.get(identity)
        if isolated is not None and margin.positions[isolated]:
            return margin.head[isolated], isolated
        return NO_POSITION, NO_POSITION

    def _is_stale(self, pid: int, identity: int, seq: int | None, ts: int) -> bool:
        if pid != NO_POSITION:
            return _older(seq, ts, self.positions.seq[pid], self.positions.ts[pid])
        tombstone = self.tombstones.get(identity)
        return tombstone is not None and _older(seq, ts, *tombstone)

    def _owner_for(self, mode: str, account: int, symbol: int, side: int, identity: int) -> int:
        """The margin account of an open position in `mode`, created when missing."""
        if mode == "cross":
            key, table, code, side = (
                account * KEY_SPAN + self.settle_assets[symbol],
                self.cross_accounts,
                CROSS,
                0,
            )
        else:
            key, table, code = identity, self.isolated_accounts, ISOLATED
        asset = self.settle_assets[symbol]
        found = table.get(key)
        if found is None:
            found = table[key] = self._new_margin_account(account, code, asset, symbol, side)
        return found

    def _place_position(
        self, pid: int, owner: int, symbol: int, side: int, event: PositionEvent
    ) -> int:
        """Open or update the position; sets the isolated wallet; returns its pid."""
        margin = self.margin
        if event.margin is not None and margin.mode[owner] == ISOLATED:
            if margin.positions[owner]:
                margin.equity[owner] += event.margin - margin.wallet[owner]
            else:
                margin.equity[owner] = event.margin
            margin.wallet[owner] = event.margin
        instrument = self.instruments[symbol]
        mark = self.marks[symbol]
        price = event.entry_price if mark is None else mark
        value = value_position(instrument, event.size, event.entry_price, price)
        block = self.blocks[symbol]
        if pid == NO_POSITION:
            pid = self.positions.allocate(symbol, len(block), side, NO_SEQ, 0)
            row = block.append(pid, owner, event.size, event.entry_price)
            margin.link(owner, pid, self.positions)
        else:
            row = self.positions.row[pid]
            block.size[row], block.entry[row] = event.size, event.entry_price
        margin.equity[owner] += value.unrealized_pnl - block.pnl[row]
        margin.maintenance[owner] += value.maintenance - block.maintenance[row]
        block.pnl[row], block.maintenance[row] = value.unrealized_pnl, value.maintenance
        block.tier[row] = value.tier
        return pid

    def _close_position(self, pid: int, owner: int) -> None:
        positions, margin = self.positions, self.margin
        block = self.blocks[positions.symbol[pid]]
        row = positions.row[pid]
        margin.equity[owner] -= block.pnl[row]
        margin.maintenance[owner] -= block.maintenance[row]
        margin.unlink(owner, pid, positions)
        moved = block.remove(row)
        if moved != NO_POSITION:
            positions.row[moved] = row
        positions.release(pid)

    # -- evaluation ----------------------------------------------------------------------------

    def _revalue(
        self, symbol: int, trigger: str, ts: int, *, retier: bool
    ) -> tuple[Transition, ...]:
        """Revalue every position of `symbol` and re-classify their margin accounts."""
        if not len(self.blocks[symbol]):
            return ()
        return self._evaluate(self._revalue_block(symbol, retier=retier), trigger, ts)

    def _revalue_block(self, symbol: int, *, retier: bool) -> list[int]:
        """Vectorized revaluation; returns the margin accounts whose level may change.

        The numpy views made here die with this call, before anything can resize a column.
        """
        block = self.blocks[symbol]
        entry = float_view(block.entry)
        mark = self.marks[symbol]
        pnl, maintenance = value_block(
            self.instruments[symbol],
            float_view(block.size),
            entry,
            entry if mark is None else mark,
            int16_view(block.tier),
            retier=retier,
        )
        cached_pnl, cached_maintenance = float_view(block.pnl), float_view(block.maintenance)
        owners = int32_view(block.account)
        equity = float_view(self.margin.equity)
        total_maintenance = float_view(self.margin.maintenance)
        np.add.at(equity, owners, pnl - cached_pnl)
        np.add.at(total_maintenance, owners, maintenance - cached_maintenance)
        cached_pnl[:] = pnl
        cached_maintenance[:] = maintenance
        levels = int8_view(self.margin.level)[owners]
        moving = self.thresholds.changing(levels, equity[owners], total_maintenance[owners])
        changed: list[int] = np.unique(owners[moving]).tolist()
        return changed

    def _evaluate(self, accounts: Sequence[int], trigger: str, ts: int) -> tuple[Transition, ...]:
        """Re-classify accounts; transitions come out ordered by margin account id."""
        if not accounts:
            return ()
        if len(accounts) == 1:
            transition = self._transition(accounts[0], trigger, ts)
            return () if transition is None else (transition,)
        ordered = sorted(set(accounts), key=self.margin_account_id)
        transitions = []
        for account in ordered:
            transition = self._transition(account, trigger, ts)
            if transition is not None:
                transitions.append(transition)
        return tuple(transitions)

    def _transition(self, account: int, trigger: str, ts: int) -> Transition | None:
        margin = self.margin
        current = margin.level[account]
        if not margin.positions[account]:
            margin.equity[account] = margin.wallet[account]
            margin.maintenance[account] = 0.0
            if current == Level.SAFE:
                return None
            margin.level[account] = Level.SAFE
            margin.transitions[account] += 1
            return self._record(account, current, "close", ts, closed=True)
        equity, maintenance = self._canonical_totals(account)
        margin.equity[account], margin.maintenance[account] = equity, maintenance
        level = self.thresholds.next_level(current, equity, maintenance)
        if level == current:
            return None
        margin.level[account] = level
        margin.transitions[account] += 1
        return self._record(account, current, trigger, ts, closed=False)

    def _canonical_totals(self, account: int) -> tuple[float, float]:
        """(equity, maintenance margin) summed afresh, in (symbol, position_side) order.

        The running totals move by deltas and so carry the rounding of their history. A level
        decision and a record use these sums instead, which depend only on the current state:
        a worker restored from its changelog then writes the same bytes as one that never
        stopped (docs/STREAMS.md).
        """
        margin, positions = self.margin, self.positions
        members = margin.members(account, positions)
        if len(members) > 1:
            members.sort(
                key=lambda pid: (
                    self.instruments[positions.symbol[pid]].symbol,
                    positions.side[pid],
                )
            )
        equity, maintenance = margin.wallet[account], 0.0
        for pid in members:
            block, row = self.blocks[positions.symbol[pid]], positions.row[pid]
            equity += block.pnl[row]
            maintenance += block.maintenance[row]
        return equity, maintenance

    def _record(
        self, account: int, previous: int, trigger: str, ts: int, *, closed: bool
    ) -> Transition:
        margin = self.margin
        identity = self.margin_account_id(account)
        equity, maintenance = margin.equity[account], margin.maintenance[account]
        return Transition(
            event_id=f"{identity}#{margin.transitions[account]}",
            margin_account=identity,
            account=self.account_names[margin.account[account]],
            mode=MODES[margin.mode[account]],
            settle=self.asset_names[margin.asset[account]],
            from_level=LEVEL_NAMES[previous],
            to_level=LEVEL_NAMES[margin.level[account]],
            margin_ratio=0.0 if closed else margin_ratio(equity, maintenance),
            equity=None if closed else equity,
            maintenance_margin=0.0 if closed else maintenance,
            ts=ts,
            trigger=trigger,
            positions=() if closed else self.position_views(account),
        )

    # -- views ---------------------------------------------------------------------------------

    def margin_account_id(self, account: int) -> str:
        """`{account}/cross/{settle}`, `{account}/isolated/{symbol}[/{side}]`."""
        return self._namer(account)

    def account_namer(self) -> Callable[[int], str]:
        """`margin_account_id` over copies of what it reads: it names the accounts of now
        even while the engine goes on (another thread may use it)."""
        margin = MarginAccounts()
        for column in ("account", "mode", "asset", "symbol", "side"):
            setattr(margin, column, getattr(self.margin, column)[:])
        return _Namer(
            list(self.account_names), list(self.asset_names), list(self.instruments), margin
        )

    def position_views(self, account: int) -> tuple[PositionView, ...]:
        """The account's positions with liquidation and bankruptcy prices (SPEC §6, §7).

        For symbol S, E_o = wallet + uPnL of the other symbols and M_o = their maintenance
        margin: one pass gathers the per-symbol sums, and each (symbol, reference) is solved once.
        """
        holdings = sorted(
            (self._holding(pid) for pid in self.margin.members(account, self.positions)),
            key=lambda holding: (holding.instrument.symbol, holding.side),
        )
        pnl_by_symbol: dict[int, float] = {}
        maintenance_by_symbol: dict[int, float] = {}
        legs_by_symbol: dict[int, list[Leg]] = {}
        for holding in holdings:
            symbol = holding.symbol
            pnl_by_symbol[symbol] = pnl_by_symbol.get(symbol, 0.0) + holding.pnl
            maintenance_by_symbol[symbol] = (
                maintenance_by_symbol.get(symbol, 0.0) + holding.maintenance
            )
            legs_by_symbol.setdefault(symbol, []).append(Leg(holding.size, holding.entry))
        equity = self.margin.wallet[account] + sum(pnl_by_symbol.values())
        maintenance = sum(maintenance_by_symbol.values())
        solved: dict[tuple[int, float], tuple[float | None, float | None]] = {}
        views = []
        for holding in holdings:
            symbol = holding.symbol
            key = (symbol, holding.reference)
            if key not in solved:
                money = {
                    "other_equity": equity - pnl_by_symbol[symbol],
                    "other_maintenance": maintenance - maintenance_by_symbol[symbol],
                    "reference_price": holding.reference,
                }
                legs = legs_by_symbol[symbol]
                solved[key] = (
                    solve_price(holding.instrument, legs, weight=LIQUIDATION, **money),
                    solve_price(holding.instrument, legs, weight=BANKRUPTCY, **money),
                )
            views.append(holding.view(*solved[key]))
        return tuple(views)

    def _holding(self, pid: int) -> _Holding:
        positions = self.positions
        symbol = positions.symbol[pid]
        block, row = self.blocks[symbol], positions.row[pid]
        mark = self.marks[symbol]
        entry = block.entry[row]
        return _Holding(
            symbol=symbol,
            instrument=self.instruments[symbol],
            side=positions.side[pid],
            size=block.size[row],
            entry=entry,
            mark=mark,
            reference=entry if mark is None else mark,
            pnl=block.pnl[row],
            maintenance=block.maintenance[row],
        )

    def account_view(self, account: int) -> AccountView:
        margin = self.margin
        equity, maintenance = self._canonical_totals(account)
        return AccountView(
            margin_account=self.margin_account_id(account),
            account=self.account_names[margin.account[account]],
            mode=MODES[margin.mode[account]],
            settle=self.asset_names[margin.asset[account]],
            wallet=margin.wallet[account],
            equity=equity,
            maintenance_margin=maintenance,
            margin_ratio=margin_ratio(equity, maintenance),
            level=LEVEL_NAMES[margin.level[account]],
            positions=self.position_views(account),
        )

    def find_margin_account(self, margin_account_id: str) -> int | None:
        """The index of a margin account by its SPEC §4 id, or None when there is none."""
        parts = margin_account_id.split("/")
        account = self.accounts_by_name.get(parts[0])
        if account is None or len(parts) < 3:
            return None
        if parts[1] == "cross" and len(parts) == 3:
            asset = self.assets_by_name.get(parts[2])
            return None if asset is None else self.cross_accounts.get(account * KEY_SPAN + asset)
        symbol = self.symbols.get(parts[2])
        side = parts[3] if len(parts) == 4 else "both"
        if parts[1] != "isolated" or symbol is None or len(parts) > 4:
            return None
        if side not in SIDE_CODES or (len(parts) == 4 and side == "both"):
            return None
        return self.isolated_accounts.get((account * KEY_SPAN + symbol) * 3 + SIDE_CODES[side])

    def worst_accounts(self, minimum: Level, limit: int) -> list[int]:
        """Tracked margin accounts at level `minimum` or above, worst first.

        Order: higher level first; within `bankrupt`, the most negative equity first; within
        the other levels, the highest margin ratio (maintenance margin / equity) first; then
        by margin account id, so every worker ranks ties alike.
        """
        margin = self.margin
        levels = int8_view(margin.level).astype(np.int64)
        chosen = np.flatnonzero((int32_view(margin.positions) > 0) & (levels >= minimum))
        if not len(chosen):
            return []
        equity = float_view(margin.equity)[chosen]
        maintenance = float_view(margin.maintenance)[chosen]
        bankrupt = levels[chosen] == Level.BANKRUPT
        with np.errstate(divide="ignore", invalid="ignore"):
            badness = np.where(bankrupt, -equity, maintenance / equity)
        keys = list(zip((-levels[chosen]).tolist(), (-badness).tolist(), strict=True))
        order = np.lexsort((-badness, -levels[chosen])).tolist()
        cut = min(limit, len(order))
        while 0 < cut < len(order) and keys[order[cut]] == keys[order[cut - 1]]:
            cut += 1  # ties at the boundary: the id decides below
        ranked = sorted(
            order[:cut], key=lambda row: (keys[row], self.margin_account_id(int(chosen[row])))
        )
        return [int(chosen[row]) for row in ranked[:limit]]

    def tracked_accounts(self) -> list[int]:
        """Indices of margin accounts holding positions, ordered by margin account id."""
        holding = np.flatnonzero(int32_view(self.margin.positions) > 0).tolist()
        return sorted(holding, key=self.margin_account_id)

    def level_counts(self) -> dict[str, int]:
        """Tracked margin accounts per level."""
        tracked = int32_view(self.margin.positions) > 0
        counts = np.bincount(int8_view(self.margin.level)[tracked], minlength=len(LEVEL_NAMES))
        return {name: int(count) for name, count in zip(LEVEL_NAMES, counts, strict=True)}

    # -- restore -------------------------------------------------------------------------------

    def restore_levels(self, levels: Mapping[str, tuple[str, int]], replay_time: int) -> None:
        """Set every margin account's level and transition count after a restore.

        `levels` maps margin account id to (level name, transitions so far). An account the
        map does not name is `safe` with no transitions. Counts of accounts that hold nothing
        now are carried until the account opens again, so its event ids go on counting.
        """
        margin = self.margin
        remaining = dict(levels)
        for account in range(len(margin)):
            name, count = remaining.pop(self.margin_account_id(account), ("safe", 0))
            margin.level[account] = LEVEL_NAMES.index(name)
            margin.transitions[account] = count
        self.carried_counts = {key: count for key, (_, count) in remaining.items()}
        self.replay_time = replay_time

    # -- interning -----------------------------------------------------------------------------

    def _define(self, instrument: Instrument) -> None:
        self.symbols[instrument.symbol] = len(self.instruments)
        self.instruments.append(instrument)
        self.blocks.append(SymbolBlock())
        self.marks.append(None)
        self.mark_times.append(-1)
        self.settle_assets.append(self._asset(instrument.settle))

    def _new_margin_account(
        self, account: int, mode: int, asset: int, symbol: int, side: int
    ) -> int:
        """A new margin account slot; its transition count resumes when one was carried."""
        index = self.margin.add(account, mode, asset, symbol, side)
        if self.carried_counts:
            self.margin.transitions[index] = self.carried_counts.pop(
                self.margin_account_id(index), 0
            )
        return index

    def _account(self, name: str) -> int:
        return _intern(name, self.accounts_by_name, self.account_names)

    def _asset(self, name: str) -> int:
        return _intern(name, self.assets_by_name, self.asset_names)

    def _advance(self, ts: int) -> None:
        self.replay_time = max(self.replay_time, ts)


class _Holding(NamedTuple):
    """One open position's data, gathered once while a record is built."""

    symbol: int
    instrument: Instrument
    side: int
    size: float
    entry: float
    mark: float | None
    reference: float
    pnl: float
    maintenance: float

    def view(self, liquidation: float | None, bankruptcy: float | None) -> PositionView:
        return PositionView(
            symbol=self.instrument.symbol,
            position_side=SIDES[self.side],
            size=self.size,
            entry_price=self.entry,
            mark_price=self.mark,
            notional=notional_of(self.instrument, self.size, self.reference),
            unrealized_pnl=self.pnl,
            maintenance_margin=self.maintenance,
            liquidation_price=liquidation,
            bankruptcy_price=bankruptcy,
        )


class _Namer:
    """Margin account ids from the columns that identify a margin account (never changed)."""

    __slots__ = ("accounts", "assets", "instruments", "margin")

    def __init__(
        self,
        accounts: list[str],
        assets: list[str],
        instruments: list[Instrument],
        margin: MarginAccounts,
    ) -> None:
        self.accounts = accounts
        self.assets = assets
        self.instruments = instruments
        self.margin = margin

    def __call__(self, account: int) -> str:
        margin = self.margin
        name = self.accounts[margin.account[account]]
        if margin.mode[account] == CROSS:
            return f"{name}/cross/{self.assets[margin.asset[account]]}"
        symbol = self.instruments[margin.symbol[account]].symbol
        side = margin.side[account]
        if side == 0:
            return f"{name}/isolated/{symbol}"
        return f"{name}/isolated/{symbol}/{SIDES[side]}"


def _intern(name: str, indices: dict[str, int], names: list[str]) -> int:
    """The index of `name`, appended to `names` on first sight."""
    index = indices.get(name)
    if index is None:
        index = indices[name] = len(names)
        names.append(name)
    return index


def _older(seq: int | None, ts: int, last_seq: int, last_ts: int) -> bool:
    """Stale test: by seq when both events carry one, else by ts (docs/ENGINE.md)."""
    if seq is not None and last_seq != NO_SEQ:
        return seq < last_seq
    return ts < last_ts
