"""One engine over sharded accounts decides each shard as an engine of its own would.

A Kafka worker holds several partitions in one engine (risk.sharding): every account event
must get the outcome and the records an engine fed only that account's partition (and every
broadcast) would give, even when the shards' replay times differ, so that the retention
watermark, the stale rule for forgotten identities and the `ts` of instrument records differ
between shards. The streams are test_bulk's (cross, isolated, hedged, closes, mode switches,
stale seqs, unknown symbols), with one shard's account events stamped ahead of the others and
tier changes in between; applied one by one and in random batches.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from risk import Engine, Transition
from risk.checkpoint import admit, state_key
from risk.events import BalanceEvent, Event, InstrumentEvent, PositionEvent, Rejection
from risk.retention import Retention
from risk.sharding import Sharding
from tests.risk.builders import make_instrument
from tests.risk.test_bulk import TIERS, applied_in_batches, instruments, random_stream

SHARDS = 3


def shard_of(account: str) -> int:
    return int(account[1:]) % SHARDS


def account_of(event: Event | Rejection) -> str | None:
    return event.account if isinstance(event, PositionEvent | BalanceEvent) else None


def sharded_stream(seed: int, count: int) -> list[Event | Rejection]:
    """test_bulk's stream; shard 1's account events up to 30 ms ahead; new tiers twice."""
    rng = random.Random(seed)
    events: list[Event | Rejection] = []
    for event in random_stream(rng, count):
        if isinstance(event, PositionEvent | BalanceEvent) and shard_of(event.account) == 1:
            events.append(event._replace(ts=event.ts + rng.randint(0, 30)))
        else:
            events.append(event)
    tighter = [{"cap": 5_000, "mmr": 0.03}, {"mmr": 0.08}]
    for at, tiers in ((count // 3, tighter), (2 * count // 3, TIERS)):
        events.insert(at, InstrumentEvent(make_instrument("AUSDT", tiers=tiers)))
    return events


def expected_outcomes(events: list[Event | Rejection], retention: Retention) -> list[Any]:
    """Per event, (status, reason, records) as the engines of single shards give them: an
    account event's from its shard's engine, a broadcast's from all of them, records merged
    in margin account order."""
    engines = [Engine(instruments(), retention=retention) for _ in range(SHARDS)]
    expected = []
    for event in events:
        account = account_of(event)
        if account is not None:
            outcome = engines[shard_of(account)].apply(event)
            expected.append((outcome.status, outcome.reason, outcome.transitions))
            continue
        outcomes = [engine.apply(event) for engine in engines]
        assert len({(outcome.status, outcome.reason) for outcome in outcomes}) == 1
        records = [record for outcome in outcomes for record in outcome.transitions]
        records.sort(key=lambda record: record.margin_account)
        expected.append((outcomes[0].status, outcomes[0].reason, tuple(records)))
    return expected


def seen(outcomes: list[Any]) -> list[tuple[str, str | None, tuple[Transition, ...]]]:
    return [(outcome.status, outcome.reason, outcome.transitions) for outcome in outcomes]


@pytest.mark.parametrize(("seed", "horizon"), [(11, 12), (12, 25), (13, 40)])
def test_a_sharded_engine_decides_each_shard_as_its_own_engine(seed: int, horizon: int) -> None:
    events = sharded_stream(seed, 2_500)
    retention = Retention(horizon)
    expected = expected_outcomes(events, retention)
    sharding = Sharding(SHARDS, shard_of)
    one_by_one = Engine(instruments(), retention=retention, sharding=sharding)
    assert seen([one_by_one.apply(event) for event in events]) == expected
    batched = Engine(instruments(), retention=retention, sharding=sharding)
    results = applied_in_batches(batched, events, random.Random(seed))
    assert seen([outcome for result in results for outcome in result.outcomes()]) == expected
    assert batched.replay_times == one_by_one.replay_times
    assert len(set(one_by_one.replay_times)) > 1  # the shards' clocks did differ
    instrument_records = [
        r for _, _, records in expected for r in records if r.trigger == "instrument"
    ]
    assert instrument_records, "the tier changes moved no account"


@pytest.mark.parametrize("seed", [11, 12])
def test_without_shards_the_same_stream_is_decided_otherwise(seed: int) -> None:
    """The stream exercises what shards are for: one clock for every account changes some
    outcome (a stale decision, a forgotten account or an instrument record's ts)."""
    events = sharded_stream(seed, 2_500)
    retention = Retention(12)
    shared = Engine(instruments(), retention=retention)
    assert seen([shared.apply(event) for event in events]) != expected_outcomes(events, retention)


def test_a_shard_out_of_range_is_refused() -> None:
    engine = Engine(instruments(), sharding=Sharding(2, lambda _: 2))
    with pytest.raises(ValueError, match=r"shard 2 of account 'a0' is not in \[0, 2\)"):
        engine.apply(BalanceEvent("a0", "USDT", 1.0, None, 1))
    with pytest.raises(ValueError, match="at least one shard"):
        Sharding(0)


def test_a_known_account_keeps_the_shard_it_was_given_and_an_unknown_one_is_hashed() -> None:
    calls: list[str] = []

    def counted(account: str) -> int:
        calls.append(account)
        return shard_of(account)

    engine = Engine(instruments(), sharding=Sharding(SHARDS, counted))
    engine.apply(BalanceEvent("a4", "USDT", 1.0, None, 1))
    assert calls == ["a4"]
    assert [engine.shard_of_account(name) for name in ("a4", "a4", "a5")] == [1, 1, 2]
    assert calls == ["a4", "a5"]  # the known account's shard is read, not hashed again


def views(engine: Engine) -> list[Any]:
    return [engine.account_view(index) for index in engine.tracked_accounts()]


@pytest.mark.parametrize(("seed", "horizon", "moved"), [(21, 12, 0), (22, 40, 1), (23, 25, 2)])
def test_a_shard_dropped_and_admitted_again_goes_on_as_if_it_never_left(
    seed: int, horizon: int, moved: int
) -> None:
    """What a worker does on a rebalance: drop a partition's shard, later restore it from
    its checkpoint (its last account events, levels and replay time) while the engine holds
    the same broadcasts; the engine then goes on exactly as one that kept it."""
    events = sharded_stream(seed, 3_000)
    half = len(events) // 2
    retention, sharding = Retention(horizon), Sharding(SHARDS, shard_of)
    kept = Engine(instruments(), retention=retention, sharding=sharding)
    handed = Engine(instruments(), retention=retention, sharding=sharding)
    latest: dict[tuple[str, ...], Event] = {}  # the shard's changelog: last accepted events
    for event in events[:half]:
        outcome = handed.apply(event)
        kept.apply(event)
        if not isinstance(event, PositionEvent | BalanceEvent) or outcome.status != "accepted":
            continue
        if shard_of(event.account) == moved:
            latest[state_key(event)] = event
    levels, clock = handed.shard_levels(moved), handed.replay_times[moved]
    others = [view for view in views(handed) if shard_of(view.account) != moved]
    handed.drop_shard(moved)
    assert views(handed) == others
    assert not handed.shard_accounts(moved)
    assert not any(shard_of(name) == moved for name in handed.accounts_by_name)
    admit(handed, moved, latest.values(), levels, clock)
    assert views(handed) == views(kept)
    assert handed.replay_times == kept.replay_times
    after = seen(handed.apply_events(events[half:]))
    assert after == seen(kept.apply_events(events[half:]))
    assert views(handed) == views(kept)
    # the moved shard held accounts with history, and they changed level after the move
    assert any(count for _, count in levels.values())
    moved_records = [r for _, _, records in after for r in records if shard_of(r.account) == moved]
    assert moved_records
