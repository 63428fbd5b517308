"""Engine state as a key-value log: what a worker's changelog holds, and how it is read back.

The engine's state is a function of the last accepted event of each identity (SPEC §3:
a position is (account, symbol, position_side), a balance (account, asset), a mark, depth
snapshot or instrument its symbol, a fund snapshot its asset), plus two path-dependent parts:
each margin account's level and transition count (hysteresis and event ids depend on the
history), and replay time. A worker writes those to a compacted changelog and rebuilds an
engine from them with `restore`; the rebuilt engine then emits exactly what the original one
would have (docs/STREAMS.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from risk.engine import Engine
from risk.events import (
    BalanceEvent,
    DepthEvent,
    Event,
    FundEvent,
    InstrumentEvent,
    MarkEvent,
    PositionEvent,
)

StateKey = tuple[str, ...]

# Restore order: definitions first, then prices, wallets and finally positions, so that no
# event refers to something not restored yet. Each identity appears once, so nothing is stale.
RESTORE_ORDER: Final = ("instrument", "mark", "fund", "depth", "balance", "position")


def state_key(event: Event) -> StateKey:
    """The identity whose state `event` replaces: ("position", account, symbol, side), ..."""
    if isinstance(event, PositionEvent):
        return ("position", event.account, event.symbol, event.position_side)
    if isinstance(event, BalanceEvent):
        return ("balance", event.account, event.asset)
    if isinstance(event, MarkEvent):
        return ("mark", event.symbol)
    if isinstance(event, InstrumentEvent):
        return ("instrument", event.instrument.symbol)
    if isinstance(event, FundEvent):
        return ("fund", event.asset)
    if isinstance(event, DepthEvent):
        return ("depth", event.symbol)
    raise TypeError(f"not an event: {event!r}")


def restore(
    engine: Engine,
    events: Iterable[Event],
    levels: Mapping[str, tuple[str, int]],
    replay_time: int,
) -> None:
    """Rebuild `engine` (fresh, built from the same configuration) from a checkpoint.

    `events` holds the last accepted event of each identity, in any order; `levels` maps
    margin account id to (level, transition count). Transitions the rebuilding causes are
    discarded: the levels in force are the checkpoint's.
    """
    by_kind: dict[str, list[Event]] = {kind: [] for kind in RESTORE_ORDER}
    for event in events:
        by_kind[state_key(event)[0]].append(event)
    for kind in RESTORE_ORDER:
        engine.apply_batch(by_kind[kind])
    engine.restore_levels(levels, replay_time)
