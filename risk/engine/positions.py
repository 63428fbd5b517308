"""The position path: position and balance events, staleness, margin modes (SPEC §3, §4)."""

from __future__ import annotations

from risk.book import (
    CROSS,
    ISOLATED,
    NO_POSITION,
    NO_SEQ,
)
from risk.engine.evaluation import Evaluation
from risk.engine.forgetting import Forgetting
from risk.engine.state import _QUIET, _STALE, ACCEPTED, KEY_SPAN, REJECTED, SIDE_CODES, Outcome
from risk.events import (
    UNKNOWN_SYMBOL,
    BalanceEvent,
    PositionEvent,
)
from risk.valuation import value_position


class PositionPath(Forgetting, Evaluation):
    """Position and balance events against the book, under the retention rule."""

    def _apply_balance(self, event: BalanceEvent) -> Outcome:
        self._reclaim_if_due()
        account, asset = self._account(event.account), self._asset(event.asset)
        edge = self.watermark(account)
        margin = self.margin
        key = account * KEY_SPAN + asset
        target = self._live(self.cross_accounts, key, edge)
        if target is None or margin.balance_ts[target] == NO_SEQ:
            if event.ts <= edge:  # an identity the engine does not remember
                return _STALE
        elif _older(event.seq, event.ts, margin.balance_seq[target], margin.balance_ts[target]):
            return _STALE
        if target is None:
            target = self._new_margin_account(account, CROSS, asset, NO_POSITION, 0)
            self.cross_accounts[key] = target
        self._advance(event.ts, account)
        self._settle_account(target)
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
        self._reclaim_if_due()
        account = self._account(event.account)
        edge = self.watermark(account)
        side = SIDE_CODES[event.position_side]
        identity = (account * KEY_SPAN + symbol) * 3 + side
        pid, owner = self._find_position(account, symbol, side, identity)
        if self._is_stale(pid, account, symbol * 3 + side, event, edge):
            return _STALE
        self._advance(event.ts, account)
        seq = NO_SEQ if event.seq is None else event.seq
        if owner != NO_POSITION:
            self._settle_account(owner)
        if event.size == 0.0:
            # Forgetting is for good: a new tombstone must not bring back a forgotten account.
            self._live(self.cross_accounts, account * KEY_SPAN + self.settle_assets[symbol], edge)
            self._live(self.isolated_accounts, identity, edge)
            self._bury(account, symbol * 3 + side, seq, event.ts)
            if pid == NO_POSITION:
                return _QUIET
            self._close_position(pid, owner)
            return Outcome(ACCEPTED, None, self._evaluate((owner,), "position", event.ts))
        target = self._owner_for(event.mode, account, symbol, side, edge)
        if target != owner:
            self._settle_account(target)
        affected: tuple[int, ...] = (target,)
        if pid != NO_POSITION and owner != target:  # the position changes margin mode
            self._close_position(pid, owner)
            affected, pid = (owner, target), NO_POSITION
        if pid == NO_POSITION:
            self._unbury(account, symbol * 3 + side)
        pid = self._place_position(pid, target, symbol, side, event)
        self.positions.seq[pid], self.positions.ts[pid] = seq, event.ts
        return Outcome(ACCEPTED, None, self._evaluate(affected, "position", event.ts))

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

    def _is_stale(self, pid: int, account: int, key: int, event: PositionEvent, edge: int) -> bool:
        """By the open position's or the remembered tombstone's order keys; an identity the
        engine does not remember is stale at or below the watermark `edge`."""
        seq, ts = event.seq, event.ts
        if pid != NO_POSITION:
            return _older(seq, ts, self.positions.seq[pid], self.positions.ts[pid])
        tombstone = self._tombstone(account, key, edge)
        if tombstone is None:
            return ts <= edge
        return _older(seq, ts, *tombstone)

    def _owner_for(self, mode: str, account: int, symbol: int, side: int, edge: int) -> int:
        """The margin account of an open position in `mode`, created when missing (or
        forgotten at the watermark `edge`)."""
        asset = self.settle_assets[symbol]
        if mode == "cross":
            key, table, code, side = account * KEY_SPAN + asset, self.cross_accounts, CROSS, 0
        else:
            key = (account * KEY_SPAN + symbol) * 3 + side
            table, code = self.isolated_accounts, ISOLATED
        found = self._live(table, key, edge)
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


def _older(seq: int | None, ts: int, last_seq: int, last_ts: int) -> bool:
    """Stale test: by seq when both events carry one, else by ts (docs/ENGINE.md)."""
    if seq is not None and last_seq != NO_SEQ:
        return seq < last_seq
    return ts < last_ts
