"""Evaluation and records: re-classify margin accounts, build transitions (SPEC §5-§7).

The numbers come from one compiled pass over the accounts (`risk.kernels.accounts`): canonical
totals, the next level and, for the records, liquidation and bankruptcy prices. Python only
gathers the columns and builds the records.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, cast

import numpy as np
from numpy.typing import NDArray

from risk.book import (
    MODES,
    SIDES,
    float32_view,
    float_view,
    int8_view,
    int32_view,
    int64_view,
)
from risk.engine.liquidation import DepthFields, LiquidationRecords
from risk.engine.spans import numbers, span_slots
from risk.kernels.accounts import CHANGED, EVERY, Members, evaluate_accounts, gather_members
from risk.levels import LEVEL_NAMES, Level, margin_ratio
from risk.records import PositionView, Transition

BULK = 8  # more accounts than this are evaluated by one compiled pass
FEW_MEMBERS = 48  # up to this many members are gathered and written back element by element


class Evaluated(NamedTuple):
    """The outcome of `evaluate_accounts` for `accounts`: per account its totals and next
    level; per member the columns (canonical order per account: `order[offsets[j]:
    offsets[j+1]]`)."""

    accounts: NDArray[np.int64]
    offsets: NDArray[np.int64]
    equity: NDArray[np.float64]
    maintenance: NDArray[np.float64]
    level: NDArray[np.int8]
    order: NDArray[np.int64]
    members: dict[str, NDArray[Any]]


class Evaluation(LiquidationRecords):
    """Levels from freshly summed totals, and the records of the accounts that change."""

    def _evaluate(self, accounts: Sequence[int], trigger: str, ts: int) -> tuple[Transition, ...]:
        """Re-classify accounts; transitions come out ordered by margin account id.

        Every account gets its canonical totals written back; those whose level changes get a
        record, with trigger "close" when it holds no position any more. Up to BULK accounts
        are decided one by one in Python (a compiled call costs more than that); more go
        through the compiled pass. Both sum in the same order, so they agree to the last bit
        (tests/risk/test_kernels.py), and only records need the compiled prices.
        """
        if not accounts:
            return ()
        names = self.margin_account_id
        if len(accounts) > BULK:
            named = sorted((names(account), account) for account in set(accounts))
            ordered = [account for _, account in named]
            evaluated = self._evaluated(ordered, CHANGED)
            return self._settle(evaluated, trigger, ts, [identity for identity, _ in named])
        ordered = sorted(set(accounts), key=names)
        margin, changed = self.margin, []
        for account in ordered:
            equity, maintenance = self._canonical_totals(account)
            margin.equity[account], margin.maintenance[account] = equity, maintenance
            level = int(Level.SAFE)
            if margin.positions[account]:
                level = self.thresholds.next_level(margin.level[account], equity, maintenance)
            if level != margin.level[account]:
                changed.append(account)
        if not changed:
            return ()
        return self._settle(
            self._evaluated(changed, CHANGED), trigger, ts, list(map(names, changed))
        )

    def _settle(
        self, evaluated: Evaluated, trigger: str, ts: int, identities: list[str]
    ) -> tuple[Transition, ...]:
        """Write the evaluated totals and levels back; the records of the level changes
        (`identities`: the margin account ids of the evaluated accounts)."""
        margin, chosen = self.margin, evaluated.accounts
        float_view(margin.equity)[chosen] = evaluated.equity
        float_view(margin.maintenance)[chosen] = evaluated.maintenance
        levels = int8_view(margin.level)
        previous = levels[chosen]
        changed = np.flatnonzero(evaluated.level != previous)
        if not len(changed):
            return ()
        moved = chosen[changed]
        levels[moved] = evaluated.level[changed]
        int64_view(margin.transitions)[moved] += 1
        moves = (changed, previous[changed].tolist(), [identities[index] for index in changed])
        return self._records(evaluated, moves, trigger, ts)

    def _evaluated(self, accounts: list[int], solve: int) -> Evaluated:
        """Run the compiled evaluation over these accounts (`solve`: which get prices)."""
        margin = self.margin
        chosen = np.array(accounts, dtype=np.int64)
        offsets, pids = gather_members(
            chosen, int32_view(margin.head), int32_view(self.positions.next)
        )
        members = self._member_columns(pids)
        results = evaluate_accounts(
            offsets,
            cast(Members, tuple(members.values())),
            self.instrument_table(),
            (float_view(margin.wallet)[chosen], int8_view(margin.level)[chosen]),
            (self.threshold_bounds, self.thresholds.hysteresis),
            solve,
        )
        equity, maintenance, level, order, notional, liquidation, bankruptcy = results
        members.update(notional=notional, liquidation=liquidation, bankruptcy=bankruptcy)
        return Evaluated(
            chosen,
            offsets,
            equity,
            maintenance,
            level.astype(np.int8),
            order.astype(np.int64),
            members,
        )

    def _member_columns(self, pids: NDArray[np.int32]) -> dict[str, NDArray[Any]]:
        """Per pid: symbol, side, size, entry, uPnL, MM, stale (banded: valued at an older
        mark) and its symbol's mark (NaN for none), gathered block by block (a few of them
        element by element: a numpy view of a block's column costs a microsecond)."""
        if len(pids) <= FEW_MEMBERS:
            return self._few_member_columns(pids.tolist())
        positions, count = self.positions, len(pids)
        symbol = int32_view(positions.symbol)[pids]
        rows = int32_view(positions.row)[pids]
        columns: dict[str, NDArray[Any]] = {
            "symbol": symbol,
            "side": int8_view(positions.side)[pids],
        }
        for name in ("size", "entry", "pnl", "maintenance"):
            columns[name] = np.empty(count)
        columns["stale"] = np.empty(count, dtype=np.bool_)
        columns["mark"] = np.empty(count)
        for code, where in _symbol_groups(symbol):
            block, at = self.blocks[code], rows[where]
            for name in ("size", "entry", "pnl", "maintenance"):
                columns[name][where] = float_view(getattr(block, name))[at]
            columns["stale"][where] = (
                float32_view(block.band_low)[at] < float32_view(block.band_high)[at]
            )
            mark = self.marks[code]
            columns["mark"][where] = math.nan if mark is None else mark
        return columns

    def _few_member_columns(self, pids: list[int]) -> dict[str, NDArray[Any]]:
        """`_member_columns` of a few pids, read one element at a time."""
        positions, blocks, marks = self.positions, self.blocks, self.marks
        symbols = [positions.symbol[pid] for pid in pids]
        values: list[list[float]] = [[], [], [], [], [], []]
        size, entry, pnl, maintenance, stale, mark = values
        for code, pid in zip(symbols, pids, strict=True):
            block, row, price = blocks[code], positions.row[pid], marks[code]
            size.append(block.size[row])
            entry.append(block.entry[row])
            pnl.append(block.pnl[row])
            maintenance.append(block.maintenance[row])
            stale.append(block.band_low[row] < block.band_high[row])
            mark.append(math.nan if price is None else price)
        columns: dict[str, NDArray[Any]] = {
            "symbol": np.array(symbols, dtype=np.int32),
            "side": np.array([positions.side[pid] for pid in pids], dtype=np.int8),
        }
        for name, column in zip(("size", "entry", "pnl", "maintenance"), values, strict=False):
            columns[name] = np.array(column, dtype=np.float64)
        columns["stale"] = np.array(stale, dtype=np.bool_)
        columns["mark"] = np.array(mark, dtype=np.float64)
        return columns

    def _records(
        self,
        evaluated: Evaluated,
        moves: tuple[NDArray[np.intp], list[int], list[str]],
        trigger: str,
        ts: int,
    ) -> tuple[Transition, ...]:
        """The records of the accounts that change: `moves` = (their indices into
        `evaluated`, the levels they leave, their margin account ids)."""
        margin, (changed, previous, identities) = self.margin, moves
        equity, maintenance = (
            evaluated.equity[changed].tolist(),
            evaluated.maintenance[changed].tolist(),
        )
        views = self._views(evaluated, changed)
        depth = self._liquidations(evaluated, changed)
        transitions = []
        for slot, account in enumerate(evaluated.accounts[changed].tolist()):
            identity = identities[slot]
            closed = not margin.positions[account]
            effective, plan = depth.get(slot, (None, None))
            transitions.append(
                Transition(
                    f"{identity}#{margin.transitions[account]}",
                    identity,
                    self.account_names[margin.account[account]],
                    MODES[margin.mode[account]],
                    self.asset_names[margin.asset[account]],
                    LEVEL_NAMES[previous[slot]],
                    LEVEL_NAMES[margin.level[account]],
                    0.0 if closed else margin_ratio(equity[slot], maintenance[slot]),
                    None if closed else equity[slot],
                    0.0 if closed else maintenance[slot],
                    ts,
                    "close" if closed else trigger,
                    views[slot],
                    effective,
                    plan,
                )
            )
        return tuple(transitions)

    def _liquidations(
        self, evaluated: Evaluated, changed: NDArray[np.intp]
    ) -> dict[int, DepthFields]:
        """SPEC §7.1's fields of the records (slots of `changed`) that reach `liquidation` or
        `bankrupt` with positions."""
        accounts = evaluated.accounts[changed]
        reaching = (int8_view(self.margin.level)[accounts] >= Level.LIQUIDATION) & (
            evaluated.offsets[changed + 1] > evaluated.offsets[changed]
        )
        slots = np.flatnonzero(reaching)
        if not len(slots):
            return {}
        chosen = changed[slots]
        spans = (evaluated.offsets[chosen], evaluated.offsets[chosen + 1], evaluated.order)
        fields = self._depth_fields(evaluated.members, spans, evaluated.equity[chosen])
        return dict(zip(slots.tolist(), fields, strict=True))

    def _views(
        self, evaluated: Evaluated, chosen: NDArray[np.intp]
    ) -> list[tuple[PositionView, ...]]:
        """The positions of accounts `chosen` (indices into `evaluated`), canonical order."""
        bounds, slots = span_slots(evaluated.offsets[chosen], evaluated.offsets[chosen + 1])
        member = evaluated.order[slots]
        columns = evaluated.members
        symbols = np.array([item.symbol for item in self.instruments], dtype=object)
        fields = [
            symbols[columns["symbol"][member]].tolist(),
            np.array(SIDES, dtype=object)[columns["side"][member]].tolist(),
            columns["size"][member].tolist(),
            columns["entry"][member].tolist(),
            numbers(columns["mark"][member]),
            columns["notional"][member].tolist(),
            columns["pnl"][member].tolist(),
            columns["maintenance"][member].tolist(),
            numbers(columns["liquidation"][member]),
            numbers(columns["bankruptcy"][member]),
        ]
        views = list(map(PositionView, *fields))
        edges = bounds.tolist()
        return [tuple(views[edges[index] : edges[index + 1]]) for index in range(len(chosen))]

    def account_values(self, account: int) -> tuple[float, float, tuple[PositionView, ...]]:
        """(equity, maintenance margin, positions with their prices) of one margin account at
        the current marks, summed afresh (SPEC §6, §7); the engine is unchanged."""
        evaluated = self._evaluated([account], EVERY)
        views = self._views(evaluated, np.zeros(1, dtype=np.intp))[0]
        return float(evaluated.equity[0]), float(evaluated.maintenance[0]), views

    def position_views(self, account: int) -> tuple[PositionView, ...]:
        """The account's positions with liquidation and bankruptcy prices (SPEC §6, §7)."""
        return self.account_values(account)[2]

    def _canonical_totals(self, account: int) -> tuple[float, float]:
        """(equity, maintenance margin) summed afresh, in (symbol, position_side) order.

        The running totals move by deltas and so carry the rounding of their history. A level
        decision and a record use these sums instead, which depend only on the current state:
        a worker restored from its changelog then writes the same bytes as one that never
        stopped (docs/STREAMS.md). `risk.kernels.accounts` sums the same way.
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


def _symbol_groups(symbol: NDArray[np.int32]) -> Iterator[tuple[int, NDArray[np.intp] | slice]]:
    """(symbol, where) per distinct symbol of the members."""
    if not len(symbol):
        return
    if symbol.min() == symbol.max():
        yield int(symbol[0]), slice(None)
        return
    order = np.argsort(symbol, kind="stable")
    bounds = np.flatnonzero(np.diff(symbol[order])) + 1
    for where in np.split(order, bounds):
        yield int(symbol[where[0]]), where
