"""Engine state as a key-value log: what a worker's changelog holds, and how it is read back.

The engine's state is a function of the last accepted event of each identity (SPEC §3: a
position is (account, symbol, position_side), a balance (account, asset), a mark, depth
snapshot or instrument its symbol, a fund snapshot its asset), plus two path-dependent parts:
each margin account's level and transition count (hysteresis and event ids depend on the
history), and replay time. The fund projection adds its own history (`projection_entries`). A
worker writes those to a compacted changelog and rebuilds an engine from them with `restore`;
the rebuilt engine then emits exactly what the original one would have (docs/STREAMS.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from risk.batch import BALANCE, MARK, POSITION, EventBatch
from risk.book import SIDES
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


def row_state_key(batch: EventBatch, row: int) -> StateKey:
    """`state_key` of the event of a batch row, without building the event."""
    kind = batch.kind[row]
    if kind == MARK:
        return ("mark", batch.key[row])
    if kind == BALANCE:
        return ("balance", batch.name[row], batch.key[row])
    if kind == POSITION:
        return ("position", batch.name[row], batch.key[row], SIDES[batch.side[row]])
    event = batch.others[row]
    if not isinstance(event, Event):
        raise TypeError(f"not an event: {event!r}")
    return state_key(event)


def restore(
    engine: Engine,
    events: Iterable[Event],
    levels: Mapping[str, tuple[str, int]],
    replay_time: int | Sequence[int],
    *,
    accounts: Sequence[tuple[EventBatch, int | None]] = (),
) -> None:
    """Rebuild `engine` (fresh, built from the same configuration) from a checkpoint.

    `events` holds the last accepted event of each identity, in any order, and `accounts`
    more of them already in columns: (batch, shard) of the balance and position rows a worker
    decodes each partition's changelog into, with the shard of all of that batch's accounts
    (None: each name is hashed). `levels` maps margin account id to (level, transition count).
    Transitions the rebuilding causes are discarded: the levels in force are the checkpoint's.
    The events are applied with nothing forgotten (their order is not their time order), the
    accounts in bulk (`Engine.load_accounts`, equal to applying them one by one); what the
    retention rule has forgotten at the checkpoint's `replay_time` is then dropped, so it is
    not resurrected (docs/ENGINE.md). `replay_time` is one for every shard, or one per shard:
    checkpoints of several partitions at the same broadcast position restore into one sharded
    engine at once.
    """
    _apply_in_order(engine, events, RESTORE_ORDER, accounts)
    engine.restore_levels(levels, replay_time)


ACCOUNT_KINDS: Final = ("balance", "position")


def admit(
    engine: Engine,
    shard: int,
    events: Iterable[Event],
    levels: Mapping[str, tuple[str, int]],
    replay_time: int,
    *,
    accounts: Sequence[tuple[EventBatch, int | None]] = (),
) -> None:
    """Restore one shard's accounts into a running sharded engine (risk.sharding) that holds
    nothing of that shard, at the same broadcasts (marks, instruments, fund, depth) as the
    checkpoint's: `events` (and `accounts`, as in `restore`) are the shard's last account
    events, `levels` and `replay_time` the shard's. Broadcast events among them are skipped
    (the engine has them already); transitions the rebuilding causes are discarded, as in
    `restore`."""
    _apply_in_order(engine, events, ACCOUNT_KINDS, accounts)
    engine.restore_shard(shard, levels, replay_time)


def _apply_in_order(
    engine: Engine,
    events: Iterable[Event],
    kinds: Sequence[str],
    accounts: Sequence[tuple[EventBatch, int | None]],
) -> None:
    """The events of these kinds, kind after kind in that order, with nothing forgotten (the
    others are skipped), the balances and positions among them (and `accounts`) last and in
    bulk; the transitions they cause are discarded."""
    by_kind: dict[str, list[Event]] = {kind: [] for kind in kinds}
    for event in events:
        found = by_kind.get(state_key(event)[0])
        if found is not None:
            found.append(event)
    batch = EventBatch()
    for kind in ACCOUNT_KINDS:
        for event in by_kind.pop(kind, []):
            batch.add(event)
    with engine.remembering_everything():
        for found in by_kind.values():
            engine.apply_events(found)
        for rows, shard in [(batch, None), *accounts]:
            engine.load_accounts(rows, shard)


# -- the fund projection's path-dependent state ------------------------------------------------

PROJECTION: Final = "projection"
COVARIANCE_ROWS: Final = 32  # rows of the covariance per entry: entries stay well under 1 MB


def projection_entries(engine: Engine, written: dict[str, int]) -> dict[StateKey, Any]:
    """The parts of the projection state that changed since `written` (updated in place).

    Besides the last events, a projection depends on history: the fund balances of the
    drawdown window, the EWMA covariance and the epoch clock. Keys are
    ("projection", part[, chunk]); the covariance goes by blocks of rows.
    """
    entries: dict[StateKey, Any] = {}
    ledger, volatility = engine.fund_ledger, engine.volatility
    if written.get("ledger") != ledger.version:
        entries[(PROJECTION, "ledger")] = ledger.snapshot()
        written["ledger"] = ledger.version
    if written.get("ewma") != volatility.version:
        size = len(volatility.symbols)
        chunks = -(-size // COVARIANCE_ROWS)
        entries[(PROJECTION, "ewma")] = {**volatility.state(), "chunks": chunks}
        for chunk in range(chunks):
            first = chunk * COVARIANCE_ROWS
            rows = volatility.rows(first, first + COVARIANCE_ROWS)
            entries[(PROJECTION, "covariance", str(chunk))] = rows
        written["ewma"] = volatility.version
    if written.get("clock") != engine.clock_version:
        entries[(PROJECTION, "clock")] = engine.projection_clock()
        written["clock"] = engine.clock_version
    return entries


def written_versions(engine: Engine) -> dict[str, int]:
    """What `projection_entries` takes as already written for a freshly restored engine."""
    return {
        "ledger": engine.fund_ledger.version,
        "ewma": engine.volatility.version,
        "clock": engine.clock_version,
    }


def restore_projection(engine: Engine, parts: Mapping[StateKey, Any]) -> None:
    """Put back what `projection_entries` wrote, after `restore` (which replays only the last
    event of each identity). Missing parts keep what `restore` rebuilt."""
    ledger = parts.get((PROJECTION, "ledger"))
    if ledger is not None:
        engine.fund_ledger.restore(ledger)
    state = parts.get((PROJECTION, "ewma"))
    if state is not None:
        rows: list[list[float]] = []
        for chunk in range(int(state["chunks"])):
            rows += parts[(PROJECTION, "covariance", str(chunk))]
        engine.volatility.restore(state, rows)
        for name, index in engine.volatility.symbols.items():
            mark = engine.marks[engine.symbols[name]]
            if mark is not None:
                engine.volatility.last[index] = mark  # the last price seen, as the engine has it
    clock = parts.get((PROJECTION, "clock"))
    if clock is not None:
        engine.restore_projection_clock(clock)
