"""Engine state: the book, the interned names and the per-symbol market (SPEC §3, §4).

`EngineState` holds every column and table the paths share; the mark path, the position path,
evaluation and queries are layered over it (`risk.engine.engine.Engine` composes them). Names
(accounts, assets, symbols) are interned to dense integer indices once, on first sight.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from typing import Final, NamedTuple, TypeVar

import numpy as np
from numpy.typing import NDArray

from risk.book import (
    CROSS,
    MARGIN_COLUMNS,
    NO_POSITION,
    POSITION_COLUMNS,
    SIDES,
    BlockAddresses,
    MarginAccounts,
    PositionIndex,
    SymbolBlock,
    addresses,
    float_view,
    int16_view,
    int32_view,
)
from risk.engine.table import instrument_table
from risk.events import (
    DepthEvent,
    FundEvent,
)
from risk.fund import EwmaCovariance, FundLedger, FundParameters
from risk.instruments import Instrument
from risk.kernels.accounts import Table
from risk.kernels.valuation import SUMS, revalue_rows
from risk.levels import Thresholds
from risk.records import Transition
from risk.retention import Retention
from risk.sharding import Sharding
from risk.valuation import value_position

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


class EngineState:
    """The columns, tables and interned names every path of the engine reads and writes."""

    def __init__(
        self,
        thresholds: Thresholds | None = None,
        fund: FundParameters | None = None,
        retention: Retention | None = None,
        sharding: Sharding | None = None,
    ) -> None:
        self.thresholds = thresholds or Thresholds()
        self.threshold_bounds = np.array(self.thresholds.bounds, dtype=np.float64)
        self._slots = np.zeros(0, dtype=np.int32)
        self._scratch = (np.empty((2, 0), dtype=np.int64), np.empty((0, SUMS)))
        self._table: Table | None = None
        self.retention = retention or Retention()
        self.horizon_ms = self.retention.horizon_ms  # raised while a checkpoint is restored
        self.fund_parameters = fund or FundParameters()
        self.fund_ledger = FundLedger(self.fund_parameters.drawdown_window_ms)
        self.volatility = EwmaCovariance(
            self.fund_parameters.bar_ms,
            self.fund_parameters.decay,
            self.fund_parameters.prior_bar_variance,
        )
        self.sharding = sharding or Sharding()
        self.replay_times = [0] * self.sharding.count  # per shard (risk.sharding)
        self.instruments: list[Instrument] = []
        self.blocks: list[SymbolBlock] = []
        self.block_addresses = BlockAddresses(self.blocks, set())
        self._book_generations = (-1, -1)
        self._book_columns = (np.zeros(0, dtype=np.int64), np.zeros(2, dtype=np.int64))
        self.marks: list[float | None] = []
        self.mark_prices = np.zeros(0)  # the marks again, NaN for none, for compiled code
        self.mark_times: list[int] = []
        self.symbols: dict[str, int] = {}
        self.settle_assets: list[int] = []
        self.account_names: list[str] = []
        self.asset_names: list[str] = []
        self.accounts_by_name: dict[str, int] = {}
        self.assets_by_name: dict[str, int] = {}
        self.cross_accounts: dict[int, int] = {}
        self.isolated_accounts: dict[int, int] = {}
        # account -> (symbol * 3 + side) -> (seq, ts) of a closed position (docs/ENGINE.md)
        self.tombstones: dict[int, dict[int, tuple[int, int]]] = {}
        self.account_refs: list[int] = []  # margin accounts and tombstones per account name
        self.account_shards = array("i")  # the shard of each account name
        self.unreferenced: set[int] = set()  # account names that may hold nothing any more
        self.free_names: list[int] = []
        self.next_sweep = 0
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

    # -- interning -----------------------------------------------------------------------------

    def instrument_table(self) -> Table:
        """What the compiled evaluation reads per symbol; rebuilt after an instrument is
        defined or changed."""
        if self._table is None:
            self._table = instrument_table(self.instruments)
        return self._table

    def _define(self, instrument: Instrument) -> None:
        self._table = None
        self.symbols[instrument.symbol] = len(self.instruments)
        self.instruments.append(instrument)
        self.blocks.append(SymbolBlock(len(self.blocks), self.block_addresses.moved))
        self.marks.append(None)
        self.mark_prices = np.append(self.mark_prices, math.nan)
        self.mark_times.append(-1)
        self.settle_assets.append(self._asset(instrument.settle))

    def _new_margin_account(
        self, account: int, mode: int, asset: int, symbol: int, side: int
    ) -> int:
        """A new margin account slot; its transition count resumes when one was carried."""
        index = self.margin.add(account, mode, asset, symbol, side)
        self.account_refs[account] += 1
        if self.carried_counts:
            self.margin.transitions[index] = self.carried_counts.pop(
                self.margin_account_id(index), 0
            )
        return index

    def shard_of_account(self, name: str) -> int:
        """The shard of account `name`: the one stored for a known account, else its hash."""
        index = self.accounts_by_name.get(name)
        return self.sharding.of(name) if index is None else self.account_shards[index]

    def _account(self, name: str, shard: int | None = None) -> int:
        """The index of account `name`; released indices (docs/ENGINE.md) are reused. A new
        name's shard is `shard` when the caller knows it, else its hash."""
        index = self.accounts_by_name.get(name)
        if index is not None:
            return index
        if shard is None:
            shard = self.sharding.of(name) if self.sharding.count > 1 else 0
        if self.free_names:
            index = self.free_names.pop()
            self.account_names[index] = name
            self.account_shards[index] = shard
        else:
            index = len(self.account_names)
            self.account_names.append(name)
            self.account_refs.append(0)
            self.account_shards.append(shard)
        self.accounts_by_name[name] = index
        self.unreferenced.add(index)
        return index

    def _asset(self, name: str) -> int:
        return _intern(name, self.assets_by_name, self.asset_names)

    def _account_slots(self, accounts: int) -> NDArray[np.int32]:
        """One zeroed int32 per margin account, for kernels that number the accounts they
        touch (they leave it zeroed)."""
        if len(self._slots) < accounts:
            self._slots = np.zeros(max(accounts, 2 * len(self._slots)), dtype=np.int32)
        return self._slots

    def _tick_scratch(self, rows: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Working room for `tick_rows` over a block of `rows` rows, kept between ticks."""
        if self._scratch[1].shape[0] < rows:
            capacity = max(rows, 2 * self._scratch[1].shape[0])
            self._scratch = (np.empty((2, capacity), dtype=np.int64), np.empty((capacity, SUMS)))
        return self._scratch

    def book_addresses(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """What compiled code reads the book through (`risk.kernels.memory`): the buffer
        addresses of the margin account and position columns, their lengths, and the block
        table. Valid until Python next changes the book."""
        margin, positions = self.margin, self.positions
        generations = (margin.generation, positions.generation)
        if self._book_generations != generations:
            columns = addresses(margin, MARGIN_COLUMNS) + addresses(positions, POSITION_COLUMNS)
            lengths = (len(margin), len(positions.symbol))
            self._book_columns = (
                np.array(columns, dtype=np.int64),
                np.array(lengths, dtype=np.int64),
            )
            self._book_generations = generations
        return (*self._book_columns, self.block_addresses.table())

    # -- valuation -----------------------------------------------------------------------------

    def current_values(self, symbol: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(uPnL, maintenance margin) of every row of the block at the current mark, as new
        arrays; the engine is unchanged.

        A mark tick leaves the rows of banded accounts valued at an older mark (their level
        cannot have changed there), so whatever reads values of the whole book reads these.
        """
        block = self.blocks[symbol]
        pnl, maintenance = float_view(block.pnl).copy(), float_view(block.maintenance).copy()
        if block.skipped:
            discarded = (np.zeros(len(self.margin)), np.zeros(len(self.margin)))
            columns = (float_view(block.size), float_view(block.entry), pnl, maintenance)
            self._revalue_columns(symbol, columns, int16_view(block.tier).copy(), discarded)
        return pnl, maintenance

    def current_totals(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Running (equity, maintenance margin) of every margin account at the current marks,
        as new arrays; the engine is unchanged."""
        totals = (float_view(self.margin.equity).copy(), float_view(self.margin.maintenance).copy())
        for symbol, block in enumerate(self.blocks):
            if block.skipped:
                columns = (
                    float_view(block.size),
                    float_view(block.entry),
                    float_view(block.pnl).copy(),
                    float_view(block.maintenance).copy(),
                )
                self._revalue_columns(symbol, columns, int16_view(block.tier).copy(), totals)
        return totals

    def _settle_account(self, account: int) -> None:
        """Value the account's banded rows at the current marks, and drop their bands: an event
        is about to change the account (the next tick bands it again)."""
        positions, margin = self.positions, self.margin
        pid = margin.head[account]
        while pid != NO_POSITION:
            symbol = positions.symbol[pid]
            block, row = self.blocks[symbol], positions.row[pid]
            mark = self.marks[symbol]
            if block.band_low[row] < block.band_high[row] and mark is not None:
                value = value_position(
                    self.instruments[symbol], block.size[row], block.entry[row], mark
                )
                margin.equity[account] += value.unrealized_pnl - block.pnl[row]
                margin.maintenance[account] += value.maintenance - block.maintenance[row]
                block.pnl[row], block.maintenance[row] = value.unrealized_pnl, value.maintenance
                block.tier[row] = value.tier
                block.band_low[row], block.band_high[row] = math.inf, -math.inf
            pid = positions.next[pid]

    def _row_values(self, pid: int) -> tuple[float, float]:
        """(uPnL, maintenance margin) of one open position at its symbol's current mark."""
        symbol, row = self.positions.symbol[pid], self.positions.row[pid]
        block, mark = self.blocks[symbol], self.marks[symbol]
        if block.band_low[row] < block.band_high[row] and mark is not None:
            value = value_position(
                self.instruments[symbol], block.size[row], block.entry[row], mark
            )
            return value.unrealized_pnl, value.maintenance
        return block.pnl[row], block.maintenance[row]

    def _revalue_rows(self, symbol: int, *, retier: bool) -> None:
        """Revalue every row of the block at its mark (entry prices without one), in place."""
        block, margin = self.blocks[symbol], self.margin
        totals = (float_view(margin.equity), float_view(margin.maintenance))
        tier = int16_view(block.tier)
        self._revalue_columns(symbol, self._value_columns(block), tier, totals, retier=retier)

    def _revalue_columns(
        self,
        symbol: int,
        columns: tuple[NDArray[np.float64], ...],
        tier: NDArray[np.int16],
        totals: tuple[NDArray[np.float64], NDArray[np.float64]],
        *,
        retier: bool = False,
    ) -> None:
        """`revalue_rows` over these columns of the block (the views or copies of them)."""
        instrument, mark = self.instruments[symbol], self.marks[symbol]
        tiers = instrument.tiers
        revalue_rows(
            instrument.kind == "linear",
            instrument.contract_size,
            math.nan if mark is None else mark,
            columns,
            tier,
            int32_view(self.blocks[symbol].account),
            (tiers.cap_array, tiers.mmr_array, tiers.cum_array),
            retier,
            totals,
        )

    @staticmethod
    def _value_columns(block: SymbolBlock) -> tuple[NDArray[np.float64], ...]:
        """(size, entry, pnl, maintenance) of a block, as views."""
        return (
            float_view(block.size),
            float_view(block.entry),
            float_view(block.pnl),
            float_view(block.maintenance),
        )

    @property
    def replay_time(self) -> int:
        """The largest `ts` applied so far, over every shard (ms)."""
        return max(self.replay_times)

    @replay_time.setter
    def replay_time(self, ts: int) -> None:
        """Every shard's replay time (a restore sets it)."""
        self.replay_times = [ts] * self.sharding.count

    def _advance(self, ts: int, account: int | None = None) -> None:
        """Replay time after an event: of the account's shard, or of every shard (None: a
        broadcast)."""
        times = self.replay_times
        if account is not None:
            shard = self.account_shards[account]
            times[shard] = max(times[shard], ts)
        elif ts > min(times):
            self.replay_times = [max(time, ts) for time in times]


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
