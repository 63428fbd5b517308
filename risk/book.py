"""The book: positions and margin accounts as struct-of-arrays.

Storage is typed stdlib `array.array` columns (compact; cheap scalar access on the per-event
path); every vector operation runs on zero-copy numpy views of them (`np.frombuffer`). A view
must not outlive the call that made it, because appending to a column may move its buffer.

- `SymbolBlock`: the open positions of one symbol, contiguous, so a mark touches exactly those
  rows with no gather. Removal swaps the last row into the hole.
- `PositionIndex`: per position id (pid, stable while the position is open): its symbol, row in
  the block, side, order keys (seq, ts) and the links of its margin account's position list.
- `MarginAccounts`: per margin account: identity, wallet, incrementally maintained equity and
  maintenance margin, level, transition count, and the head of its position list. A forgotten
  account's slot (docs/ENGINE.md, "Retention") goes on a free list: it reads as an untracked
  account (no positions, safe, zero money, `account` -1) until it is reused.
"""

from __future__ import annotations

import math
from array import array
from typing import Final

import numpy as np
from numpy.typing import NDArray

NO_POSITION: Final = -1
NO_SEQ: Final = -1
CROSS: Final = 0
ISOLATED: Final = 1
SIDES: Final = ("both", "long", "short")
MODES: Final = ("cross", "isolated")
# The columns whose buffer addresses compiled code takes (`addresses`, risk.kernels.memory),
# in this order; risk.kernels.memory (`margin_columns`, `position_columns`, ROWS) reads them
# by position.
MARGIN_COLUMNS: Final = (
    "account",
    "mode",
    "asset",
    "symbol",
    "side",
    "wallet",
    "equity",
    "maintenance",
    "level",
    "positions",
    "head",
    "balance_seq",
    "balance_ts",
)
POSITION_COLUMNS: Final = ("symbol", "row", "side", "seq", "ts", "next")
BLOCK_COLUMNS: Final = ("size", "entry", "pnl", "maintenance", "tier", "band_low", "band_high")


def addresses(columns: object, names: tuple[str, ...]) -> list[int]:
    """The buffer address of each named column of `columns` (valid until it is resized)."""
    return [getattr(columns, name).buffer_info()[0] for name in names]


def float_view(column: array[float]) -> NDArray[np.float64]:
    return np.frombuffer(column, dtype=np.float64)


def int32_view(column: array[int]) -> NDArray[np.int32]:
    return np.frombuffer(column, dtype=np.int32)


def int8_view(column: array[int]) -> NDArray[np.int8]:
    return np.frombuffer(column, dtype=np.int8)


def int16_view(column: array[int]) -> NDArray[np.int16]:
    return np.frombuffer(column, dtype=np.int16)


def int64_view(column: array[int]) -> NDArray[np.int64]:
    return np.frombuffer(column, dtype=np.int64)


def float32_view(column: array[float]) -> NDArray[np.float32]:
    return np.frombuffer(column, dtype=np.float32)


class SymbolBlock:
    """Open positions of one symbol: size, entry, cached uPnL / maintenance / tier, owner, and
    the owner's price band (float32 low, high: the mark tick skips a row whose band holds the
    new mark, `risk.kernels.bands`; (inf, -inf) is no band). `skipped` says a tick left some
    rows valued at an older mark (`Engine.settle` brings them up to date).

    Whatever may move the columns' buffers (adding or removing a row) puts the block's `code`
    into `moved`, the set by which the engine keeps their addresses for compiled code current
    (`BlockAddresses`)."""

    __slots__ = (
        "account",
        "band_high",
        "band_low",
        "code",
        "entry",
        "maintenance",
        "moved",
        "pid",
        "pnl",
        "size",
        "skipped",
        "tier",
    )

    def __init__(self, code: int = 0, moved: set[int] | None = None) -> None:
        self.code = code
        self.moved = set() if moved is None else moved
        self._allocate()
        self.skipped = False

    def _allocate(self) -> None:
        """Fresh, empty columns (an emptied block gives its memory back: `remove`)."""
        self.size: array[float] = array("d")
        self.entry: array[float] = array("d")
        self.pnl: array[float] = array("d")
        self.maintenance: array[float] = array("d")
        self.tier: array[int] = array("h")  # up to MAX_TIERS tiers
        self.account: array[int] = array("i")
        self.pid: array[int] = array("i")
        self.band_low: array[float] = array("f")
        self.band_high: array[float] = array("f")
        self.moved.add(self.code)

    def __len__(self) -> int:
        return len(self.pid)

    def append(self, pid: int, account: int, size: float, entry: float) -> int:
        """Add a row (values are filled by the caller) and return its index."""
        self.size.append(size)
        self.entry.append(entry)
        self.pnl.append(0.0)
        self.maintenance.append(0.0)
        self.tier.append(0)
        self.account.append(account)
        self.pid.append(pid)
        self.band_low.append(math.inf)
        self.band_high.append(-math.inf)
        self.moved.add(self.code)
        return len(self.pid) - 1

    def remove(self, row: int) -> int:
        """Delete `row` by moving the last row into it; return the moved pid or NO_POSITION."""
        last = len(self.pid) - 1
        moved = NO_POSITION
        for money in (
            self.size,
            self.entry,
            self.pnl,
            self.maintenance,
            self.band_low,
            self.band_high,
        ):
            money[row] = money[last]
            money.pop()
        for code in (self.tier, self.account):
            code[row] = code[last]
            code.pop()
        if row != last:
            moved = self.pid[last]
        self.pid[row] = self.pid[last]
        self.pid.pop()
        self.moved.add(self.code)
        if not self.pid:  # a symbol nobody holds any more keeps no capacity (SPEC §13)
            self._allocate()
        return moved


class BlockAddresses:
    """Per symbol block: its columns' buffer addresses (BLOCK_COLUMNS) and its rows, as an
    int64 table for compiled code; `table()` first makes again the rows of the blocks that
    may have moved since."""

    __slots__ = ("blocks", "moved", "rows")

    def __init__(self, blocks: list[SymbolBlock], moved: set[int]) -> None:
        self.blocks = blocks
        self.moved = moved
        self.rows = np.zeros((0, len(BLOCK_COLUMNS) + 1), dtype=np.int64)

    def table(self) -> NDArray[np.int64]:
        if len(self.rows) < len(self.blocks):
            capacity = max(len(self.blocks), 2 * len(self.rows))
            grown = np.zeros((capacity, self.rows.shape[1]), dtype=np.int64)
            grown[: len(self.rows)] = self.rows
            self.rows = grown
        for code in self.moved:
            block = self.blocks[code]
            self.rows[code, :-1] = addresses(block, BLOCK_COLUMNS)
            self.rows[code, -1] = len(block)
        self.moved.clear()
        return self.rows


class PositionIndex:
    """Per position id: where it lives, its side, order keys and account-list links."""

    __slots__ = ("free", "generation", "next", "prev", "row", "seq", "side", "symbol", "ts")

    def __init__(self) -> None:
        self.generation = 0  # counts the appends, which may move the columns' buffers
        self.symbol: array[int] = array("i")
        self.row: array[int] = array("i")
        self.side: array[int] = array("b")
        self.seq: array[int] = array("q")
        self.ts: array[int] = array("q")
        self.next: array[int] = array("i")
        self.prev: array[int] = array("i")
        self.free: list[int] = []

    def allocate(self, symbol: int, row: int, side: int, seq: int, ts: int) -> int:
        if self.free:
            pid = self.free.pop()
            self.symbol[pid], self.row[pid], self.side[pid] = symbol, row, side
            self.seq[pid], self.ts[pid] = seq, ts
            return pid
        for column, value in ((self.symbol, symbol), (self.row, row), (self.side, side)):
            column.append(value)
        self.seq.append(seq)
        self.ts.append(ts)
        self.next.append(NO_POSITION)
        self.prev.append(NO_POSITION)
        self.generation += 1
        return len(self.symbol) - 1

    def release(self, pid: int) -> None:
        self.symbol[pid] = NO_POSITION
        self.free.append(pid)


class MarginAccounts:
    """Per margin account: identity, money, level and its list of positions."""

    __slots__ = (
        "account",
        "asset",
        "balance_seq",
        "balance_ts",
        "equity",
        "free",
        "generation",
        "head",
        "level",
        "maintenance",
        "mode",
        "positions",
        "side",
        "symbol",
        "transitions",
        "wallet",
    )

    def __init__(self) -> None:
        self.account: array[int] = array("i")
        self.mode: array[int] = array("b")
        self.asset: array[int] = array("i")
        self.symbol: array[int] = array("i")
        self.side: array[int] = array("b")
        self.wallet: array[float] = array("d")
        self.equity: array[float] = array("d")
        self.maintenance: array[float] = array("d")
        self.level: array[int] = array("b")
        self.positions: array[int] = array("i")
        self.transitions: array[int] = array("q")
        self.head: array[int] = array("i")
        self.balance_seq: array[int] = array("q")
        self.balance_ts: array[int] = array("q")
        self.free: list[int] = []
        self.generation = 0  # counts the appends, which may move the columns' buffers

    def __len__(self) -> int:
        return len(self.account)

    def add(self, account: int, mode: int, asset: int, symbol: int, side: int) -> int:
        """A new, untracked margin account with a zero wallet; returns its index."""
        if self.free:
            index = self.free.pop()
            self.account[index], self.mode[index], self.asset[index] = account, mode, asset
            self.symbol[index], self.side[index] = symbol, side
            return index
        for column, value in (
            (self.account, account),
            (self.mode, mode),
            (self.asset, asset),
            (self.symbol, symbol),
            (self.side, side),
            (self.level, 0),
            (self.positions, 0),
            (self.transitions, 0),
            (self.head, NO_POSITION),
            (self.balance_seq, NO_SEQ),
            (self.balance_ts, NO_SEQ),
        ):
            column.append(value)
        for money in (self.wallet, self.equity, self.maintenance):
            money.append(0.0)
        self.generation += 1
        return len(self.account) - 1

    def release(self, index: int) -> None:
        """Free an emptied account's slot: it reads as untracked until `add` reuses it."""
        self.account[index] = NO_POSITION
        self.level[index] = self.transitions[index] = 0
        self.balance_seq[index] = self.balance_ts[index] = NO_SEQ
        self.wallet[index] = self.equity[index] = self.maintenance[index] = 0.0
        self.free.append(index)

    def link(self, margin_account: int, pid: int, index: PositionIndex) -> None:
        """Put `pid` at the head of the account's position list."""
        head = self.head[margin_account]
        index.prev[pid] = NO_POSITION
        index.next[pid] = head
        if head != NO_POSITION:
            index.prev[head] = pid
        self.head[margin_account] = pid
        self.positions[margin_account] += 1

    def unlink(self, margin_account: int, pid: int, index: PositionIndex) -> None:
        before, after = index.prev[pid], index.next[pid]
        if before == NO_POSITION:
            self.head[margin_account] = after
        else:
            index.next[before] = after
        if after != NO_POSITION:
            index.prev[after] = before
        self.positions[margin_account] -= 1

    def members(self, margin_account: int, index: PositionIndex) -> list[int]:
        """The pids of the account's open positions."""
        pids = []
        pid = self.head[margin_account]
        while pid != NO_POSITION:
            pids.append(pid)
            pid = index.next[pid]
        return pids
