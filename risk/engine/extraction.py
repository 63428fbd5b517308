"""A shard's accounts read out of the book as checkpoint rows: what `load_accounts` takes.

`account_rows(shard)` gives, for the accounts of one shard (risk.sharding; the only one of an
unsharded engine), the rows whose bulk load (`Engine.load_accounts`) rebuilds them, read in
arrays from the book rather than from a changelog:

- a balance row per cross margin account that has had a balance event: its wallet and the
  event's order keys (seq, ts);
- a position row per open position: size, entry price, side, order keys, the owner's margin
  mode and, for an isolated one, its wallet as the margin;
- a position row of size 0 per remembered tombstone (a closed position's order keys).

With the shard's levels (`shard_levels`) and replay time, that is the shard's checkpoint: a
worker moves a caught-up partition into its served engine with it, and writes it in binary
to its snapshot topic (docs/STREAMS.md). What the retention rule has forgotten but not yet
freed is read out too; the restore's sweep forgets it again, as after a changelog restore.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from risk.batch import BALANCE, POSITION, EventBatch
from risk.book import (
    CROSS,
    ISOLATED,
    NO_POSITION,
    NO_SEQ,
    float_view,
    int8_view,
    int32_view,
    int64_view,
)
from risk.engine.state import EngineState


class Extraction(EngineState):
    """`account_rows`: one shard's balances, positions and tombstones as batch rows."""

    def account_rows(self, shard: int) -> EventBatch:
        """The rows that rebuild the shard's accounts (balances first, then positions)."""
        batch = EventBatch()
        mine = self._shard_margin_accounts(shard)
        self._balance_rows(batch, mine)
        for symbol in range(len(self.blocks)):
            self._position_rows(batch, symbol, mine)
        self._tombstone_rows(batch, shard)
        return batch

    def _shard_margin_accounts(self, shard: int) -> NDArray[np.bool_]:
        """Per margin account slot: held, and its account in `shard`."""
        accounts = int32_view(self.margin.account)
        held: NDArray[np.bool_] = accounts != NO_POSITION
        if self.sharding.count > 1:
            held &= int32_view(self.account_shards)[np.maximum(accounts, 0)] == shard
        return held

    def _balance_rows(self, batch: EventBatch, mine: NDArray[np.bool_]) -> None:
        margin = self.margin
        seen = int64_view(margin.balance_ts) != NO_SEQ
        chosen = np.flatnonzero(mine & seen & (int8_view(margin.mode) == CROSS))
        count = len(chosen)
        names, assets = self.account_names, self.asset_names
        batch.kind.extend([BALANCE] * count)
        batch.name.extend([names[i] for i in int32_view(margin.account)[chosen].tolist()])
        batch.key.extend([assets[i] for i in int32_view(margin.asset)[chosen].tolist()])
        batch.value.extend(float_view(margin.wallet)[chosen].tolist())
        batch.entry.extend([0.0] * count)
        batch.margin.extend([math.nan] * count)
        batch.mode.extend([0] * count)
        batch.side.extend([0] * count)
        batch.seq.extend(int64_view(margin.balance_seq)[chosen].tolist())
        batch.ts.extend(int64_view(margin.balance_ts)[chosen].tolist())

    def _position_rows(self, batch: EventBatch, symbol: int, mine: NDArray[np.bool_]) -> None:
        block, margin, positions = self.blocks[symbol], self.margin, self.positions
        if not len(block):
            return
        owners = int32_view(block.account)
        rows = np.flatnonzero(mine[owners])
        owner, pid = owners[rows], int32_view(block.pid)[rows]
        count = len(rows)
        isolated = int8_view(margin.mode)[owner] == ISOLATED
        wallets = np.where(isolated, float_view(margin.wallet)[owner], math.nan)
        names = self.account_names
        batch.kind.extend([POSITION] * count)
        batch.name.extend([names[i] for i in int32_view(margin.account)[owner].tolist()])
        batch.key.extend([self.instruments[symbol].symbol] * count)
        batch.value.extend(float_view(block.size)[rows].tolist())
        batch.entry.extend(float_view(block.entry)[rows].tolist())
        batch.margin.extend(wallets.tolist())
        batch.mode.extend(isolated.astype(np.int64).tolist())
        batch.side.extend(int8_view(positions.side)[pid].tolist())
        batch.seq.extend(int64_view(positions.seq)[pid].tolist())
        batch.ts.extend(int64_view(positions.ts)[pid].tolist())

    def _tombstone_rows(self, batch: EventBatch, shard: int) -> None:
        sharded = self.sharding.count > 1
        for account, found in self.tombstones.items():
            if sharded and self.account_shards[account] != shard:
                continue
            name = self.account_names[account]
            for key, (seq, ts) in found.items():
                symbol, side = divmod(key, 3)
                batch.add_row(
                    (POSITION, name, self.instruments[symbol].symbol, 0.0, 0.0, math.nan),
                    (0, side, None if seq == NO_SEQ else seq, ts),
                )
