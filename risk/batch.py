"""A columnar batch of input events, what `Engine.apply_batch` takes (docs/ENGINE.md).

Marks, positions and balances, the bulk of every stream, live in columns, one row per event:
no event object is made for them unless the engine hands one to its per-event path. Every
other row (an instrument, fund or depth event, or a `Rejection`) keeps the parsed object.
A decoder fills the columns (`streams.columns` from JSON lines); `from_events` builds a batch
from parsed events.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import NDArray

from risk.book import MODES, NO_SEQ, SIDES
from risk.events import (
    BalanceEvent,
    Event,
    MarkEvent,
    PositionEvent,
    Rejection,
)

MARK: Final = 0
POSITION: Final = 1
BALANCE: Final = 2
OTHER: Final = 3  # the parsed object is in `EventBatch.others`
MODE_CODES: Final = {name: code for code, name in enumerate(MODES)}
SIDE_CODES: Final = {name: code for code, name in enumerate(SIDES)}
COLUMNS: Final = ("kind", "name", "key", "value", "entry", "margin", "mode", "side", "seq", "ts")


@dataclass
class EventBatch:
    """Events in columns, in input order.

    Per row: `kind`; `name` the account (position, balance; "" otherwise); `key` the symbol
    (mark, position) or the asset (balance); `value` the size (position), price (mark) or
    wallet (balance); `entry` the entry price and `margin` the isolated margin (NaN for none)
    of a position; `mode` and `side` its codes (MODE_CODES, SIDE_CODES); `seq` (NO_SEQ for
    none) and `ts`. Rows of kind OTHER have their object in `others`.
    """

    kind: list[int] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    key: list[str] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    entry: list[float] = field(default_factory=list)
    margin: list[float] = field(default_factory=list)
    mode: list[int] = field(default_factory=list)
    side: list[int] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)
    others: dict[int, Event | Rejection] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.kind)

    @classmethod
    def from_events(cls, events: Iterable[Event | Rejection]) -> EventBatch:
        batch = cls()
        for event in events:
            batch.add(event)
        return batch

    def add(self, event: Event | Rejection) -> None:
        """Append one parsed event (or rejection)."""
        if isinstance(event, PositionEvent):
            margin = math.nan if event.margin is None else event.margin
            self.add_row(
                (POSITION, event.account, event.symbol, event.size, event.entry_price, margin),
                (MODE_CODES[event.mode], SIDE_CODES[event.position_side], event.seq, event.ts),
            )
        elif isinstance(event, BalanceEvent):
            self.add_row(
                (BALANCE, event.account, event.asset, event.wallet, 0.0, math.nan),
                (0, 0, event.seq, event.ts),
            )
        elif isinstance(event, MarkEvent):
            self.add_row(
                (MARK, "", event.symbol, event.price, 0.0, math.nan), (0, 0, None, event.ts)
            )
        else:
            self.others[len(self.kind)] = event
            self.add_row((OTHER, "", "", 0.0, 0.0, math.nan), (0, 0, None, 0))

    def extend(self, other: EventBatch) -> None:
        """Append `other`'s rows."""
        offset = len(self.kind)
        for name in COLUMNS:
            getattr(self, name).extend(getattr(other, name))
        self.others.update({offset + row: event for row, event in other.others.items()})

    def add_row(
        self,
        fields: tuple[int, str, str, float, float, float],
        codes: tuple[int, int, int | None, int],
    ) -> None:
        """Append (kind, name, key, value, entry, margin), (mode, side, seq or None, ts)."""
        kind, name, key, value, entry, margin = fields
        mode, side, seq, ts = codes
        self.kind.append(kind)
        self.name.append(name)
        self.key.append(key)
        self.value.append(value)
        self.entry.append(entry)
        self.margin.append(margin)
        self.mode.append(mode)
        self.side.append(side)
        self.seq.append(NO_SEQ if seq is None else seq)
        self.ts.append(ts)

    def event(self, row: int) -> Event | Rejection:
        """The parsed event of one row (what the per-event path takes)."""
        kind = self.kind[row]
        if kind == OTHER:
            return self.others[row]
        seq = None if self.seq[row] == NO_SEQ else self.seq[row]
        if kind == MARK:
            return MarkEvent(self.key[row], self.value[row], self.ts[row])
        if kind == BALANCE:
            return BalanceEvent(self.name[row], self.key[row], self.value[row], seq, self.ts[row])
        margin = self.margin[row]
        return PositionEvent(
            self.name[row],
            self.key[row],
            self.value[row],
            self.entry[row],
            MODES[self.mode[row]],
            None if math.isnan(margin) else margin,
            SIDES[self.side[row]],
            seq,
            self.ts[row],
        )

    def reject(self, row: int, reason: str) -> None:
        """Make a decoded row a rejection: the edge found it wrong (a record on the wrong
        partition, say) after it was decoded."""
        self.kind[row] = OTHER
        self.others[row] = Rejection(reason)

    def numbers(self) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """(value, entry, margin) and (kind, mode, side, seq, ts) as two row-major arrays."""
        floats = np.array((self.value, self.entry, self.margin), dtype=np.float64).T.copy()
        codes = np.array((self.kind, self.mode, self.side, self.seq, self.ts), dtype=np.int64)
        return floats, codes.T.copy()
