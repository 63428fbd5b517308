"""Step 1 of a bulk load (`risk.engine.loading`): what the rows make, decided in arrays.

The per-event path, given a checkpoint's balances and then its positions one by one, would:
intern each account name on first sight; make a cross margin account for each balance and
for the first open cross position of an (account, settle asset) that has none; make an
isolated margin account for each open isolated position; bury each closed position's order
keys. `LoadPlanning._plan` decides the same in arrays. Names are interned once each, in the
order the rows first name them. A margin account's key (cross: account and asset; isolated:
the position's identity; told apart by a tag bit) first appears in the order the per-event
path makes it, so the first appearances over [balance keys, open position keys]
(`np.unique(..., return_index=True)`) number the margin accounts in that order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from risk.batch import BALANCE, MODE_CODES, POSITION, EventBatch
from risk.book import CROSS, ISOLATED, NO_POSITION, NO_SEQ, SIDES
from risk.engine.forgetting import Forgetting
from risk.engine.state import KEY_SPAN

ISOLATED_CODE: Final = MODE_CODES["isolated"]
Ints = NDArray[np.int64]


class LoadError(ValueError):
    """Rows a bulk load cannot take: an account the engine already holds, or an identity
    given twice (a checkpoint holds each once)."""


@dataclass
class Plan:
    """Margin accounts to make, by ordinal (their slots come later), and the open positions."""

    accounts: Ints  # (n, 5): account, mode, asset, symbol, side
    wallet: NDArray[np.float64]
    balance_seq: Ints
    balance_ts: Ints
    owner: Ints  # per open position: its margin account's ordinal
    rows: Ints  # ... its row of the batch
    symbol: Ints
    side: Ints
    cross: tuple[list[int], list[int]]  # (key, ordinal) of the cross margin accounts
    isolated: tuple[list[int], list[int]]  # (identity, ordinal) of the isolated ones


@dataclass
class _Rows:
    """Balance rows (row, account, asset) and known-symbol position rows (row, account,
    symbol, side, settle asset, isolated, closed) of a batch."""

    balances: Ints
    balance_account: Ints
    asset: Ints
    positions: Ints
    account: Ints
    symbol: Ints
    side: Ints
    settle: Ints
    isolated: NDArray[np.bool_]
    closed: NDArray[np.bool_]


class LoadPlanning(Forgetting):
    """`_plan`: names interned, tombstones buried, margin accounts and positions decided."""

    def _plan(self, batch: EventBatch, shard: int | None) -> Plan:
        rows = self._rows(batch, shard)
        identity = (rows.account * KEY_SPAN + rows.symbol) * 3 + rows.side
        cross_keys = rows.balance_account * KEY_SPAN + rows.asset
        _refuse_twice(batch, rows.balances, cross_keys, "balance")
        _refuse_twice(batch, rows.positions, identity, "position")
        closed = rows.closed
        for row, account, key in zip(
            rows.positions[closed].tolist(),
            rows.account[closed].tolist(),
            (rows.symbol * 3 + rows.side)[closed].tolist(),
            strict=True,
        ):
            self._bury(account, key, batch.seq[row], batch.ts[row])
        cross_owner = (rows.account * KEY_SPAN + rows.settle) * 2
        owner_keys = np.where(rows.isolated, identity * 2 + 1, cross_owner)[~closed]
        unique, first, inverse = np.unique(
            np.concatenate([cross_keys * 2, owner_keys]), return_index=True, return_inverse=True
        )
        made = np.argsort(first, kind="stable")  # ordinal -> its key among `unique`
        ordinal = np.empty(len(unique), dtype=np.int64)
        ordinal[made] = np.arange(len(unique))
        made_keys, ordinals = unique[made], np.arange(len(unique))
        tagged = made_keys % 2 == 1  # isolated
        opened = np.flatnonzero(~closed)
        return Plan(
            *_specs(batch, rows, first[made], opened),
            owner=ordinal[inverse[len(rows.balances) :]],
            rows=rows.positions[opened],
            symbol=rows.symbol[opened],
            side=rows.side[opened],
            cross=((made_keys[~tagged] // 2).tolist(), ordinals[~tagged].tolist()),
            isolated=((made_keys[tagged] // 2).tolist(), ordinals[tagged].tolist()),
        )

    def _rows(self, batch: EventBatch, shard: int | None) -> _Rows:
        """The batch's balance and known-symbol position rows, names interned in the order
        they first come (balances first), assets interned as they come."""
        kinds = np.asarray(batch.kind, dtype=np.int8)
        balances = np.flatnonzero(kinds == BALANCE)
        candidates = np.flatnonzero(kinds == POSITION)
        symbols, keys, names = self.symbols, batch.key, batch.name
        found = np.array([symbols.get(keys[row], -1) for row in candidates.tolist()], np.int64)
        positions, symbol = candidates[found >= 0], found[found >= 0]  # unknown: rejected
        ordered = [names[row] for row in balances.tolist()]
        ordered += [names[row] for row in positions.tolist()]
        interned = self._intern_new(list(dict.fromkeys(ordered)), shard)
        account = np.array([interned[name] for name in ordered], dtype=np.int64)
        asset = np.array([self._asset(keys[row]) for row in balances.tolist()], np.int64)
        return _Rows(
            balances=balances,
            balance_account=account[: len(balances)],
            asset=asset,
            positions=positions,
            account=account[len(balances) :],
            symbol=symbol,
            side=np.asarray(batch.side, dtype=np.int64)[positions],
            settle=np.asarray(self.settle_assets, dtype=np.int64)[symbol],
            isolated=np.asarray(batch.mode, dtype=np.int8)[positions] == ISOLATED_CODE,
            closed=np.asarray(batch.value, dtype=np.float64)[positions] == 0.0,
        )

    def _intern_new(self, names: list[str], shard: int | None) -> dict[str, int]:
        """Index of each of these new names, as `_account` one after another gives them: the
        free indices first, one by one, then the rest appended at once (hashed for their
        shard only when `shard` is None and the engine has several)."""
        reused = min(len(names), len(self.free_names))
        interned = {name: self._account(name, shard) for name in names[:reused]}
        fresh = names[reused:]
        start = len(self.account_names)
        if shard is None:
            shards = [self.sharding.of(name) if self.sharding.count > 1 else 0 for name in fresh]
        else:
            shards = [shard] * len(fresh)
        self.account_names.extend(fresh)
        self.account_refs.extend([0] * len(fresh))
        self.account_shards.extend(shards)
        indices = range(start, start + len(fresh))
        self.accounts_by_name.update(zip(fresh, indices, strict=True))
        self.unreferenced.update(indices)
        interned.update(zip(fresh, indices, strict=True))
        return interned


def _specs(
    batch: EventBatch, rows: _Rows, creator: Ints, opened: Ints
) -> tuple[Ints, NDArray[np.float64], Ints, Ints]:
    """(identity, wallet, balance seq, balance ts) of each margin account, by ordinal, from
    the entry that makes it: a balance (index < balances), else an open position."""
    count, made_by_balance = len(creator), creator < len(rows.balances)
    accounts = np.zeros((count, 5), dtype=np.int64)
    wallet = np.zeros(count)
    seq, ts = np.full(count, NO_SEQ, dtype=np.int64), np.full(count, NO_SEQ, dtype=np.int64)
    by_balance = creator[made_by_balance]
    balance_rows = rows.balances[by_balance]
    accounts[made_by_balance] = np.column_stack(
        (rows.balance_account[by_balance], np.full(len(by_balance), CROSS), rows.asset[by_balance],
         np.full(len(by_balance), NO_POSITION), np.zeros(len(by_balance), dtype=np.int64))
    )  # fmt: skip
    wallet[made_by_balance] = np.asarray(batch.value, dtype=np.float64)[balance_rows]
    seq[made_by_balance] = np.asarray(batch.seq, dtype=np.int64)[balance_rows]
    ts[made_by_balance] = np.asarray(batch.ts, dtype=np.int64)[balance_rows]
    made = opened[creator[~made_by_balance] - len(rows.balances)]  # the making positions
    isolated = rows.isolated[made]
    accounts[~made_by_balance] = np.column_stack(
        (rows.account[made], np.where(isolated, ISOLATED, CROSS), rows.settle[made],
         rows.symbol[made], np.where(isolated, rows.side[made], 0))
    )  # fmt: skip
    margin = np.asarray(batch.margin, dtype=np.float64)[rows.positions[made]]
    wallet[~made_by_balance] = np.where(isolated & ~np.isnan(margin), margin, 0.0)
    return accounts, wallet, seq, ts


def _refuse_twice(batch: EventBatch, rows: Ints, keys: Ints, what: str) -> None:
    """LoadError naming the first identity that comes twice among these rows."""
    ordered = np.sort(keys)
    if not np.any(ordered[1:] == ordered[:-1]):
        return
    seen: set[int] = set()
    for row, key in zip(rows.tolist(), keys.tolist(), strict=True):
        if key in seen:
            side = f"/{SIDES[batch.side[row]]}" if what == "position" else ""
            raise LoadError(f"{what} {batch.name[row]}/{batch.key[row]}{side} given twice")
        seen.add(key)
