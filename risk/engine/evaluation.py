"""Evaluation and records: re-classify margin accounts, build transitions (SPEC §5-§7)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from risk.book import (
    MODES,
    SIDES,
)
from risk.engine.state import EngineState
from risk.instruments import Instrument
from risk.levels import LEVEL_NAMES, Level, margin_ratio
from risk.prices import BANKRUPTCY, LIQUIDATION, Leg, solve_price
from risk.records import PositionView, Transition
from risk.valuation import notional_of


class Evaluation(EngineState):
    """Levels from freshly summed totals, and the records of the accounts that change."""

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
            pnl, position_maintenance = self._row_values(pid)
            equity += pnl
            maintenance += position_maintenance
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
        pnl, maintenance = self._row_values(pid)
        return _Holding(
            symbol=symbol,
            instrument=self.instruments[symbol],
            side=positions.side[pid],
            size=block.size[row],
            entry=entry,
            mark=mark,
            reference=entry if mark is None else mark,
            pnl=pnl,
            maintenance=maintenance,
        )


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
