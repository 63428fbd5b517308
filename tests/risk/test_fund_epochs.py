"""Projection epochs (docs/FUND.md, "Live projections"): points of the mark stream where the
engine calls its listener, and what it holds then."""

from __future__ import annotations

from risk import Engine
from risk.fund import FundParameters
from tests.risk.builders import make_instrument, mark, position, send


def watched(events: list[dict[str, object]], **parameters: object) -> list[tuple[int, int, float]]:
    """(epoch, replay time, mark of X) at every epoch."""
    engine = Engine(
        [make_instrument("X", tiers=[{"mmr": 0.01}])],
        fund=FundParameters(projection_interval_ms=1_000, **parameters),  # type: ignore[arg-type]
    )
    seen: list[tuple[int, int, float]] = []
    engine.watch_epochs(lambda at: seen.append((at, engine.replay_time, engine.marks[0] or 0.0)))
    for event in events:
        send(engine, event)
    return seen


def test_every_interval_boundary_before_the_first_mark_past_it() -> None:
    events = [
        mark("X", 100.0, 500),  # starts the clock: next boundary 1,000
        mark("X", 101.0, 999),
        position("a", "X", 1.0, 100.0, 1_100),  # not a mark: no epoch yet
        mark("X", 102.0, 1_000),  # epoch 1,000 sees everything before this mark
        position("b", "X", 1.0, 100.0, 1_700),
        mark("X", 103.0, 5_500),  # a gap over 2,000..5,000: one epoch, the last
        mark("X", 104.0, 5_600),
        mark("Y", 104.0, 9_600),  # rejected (unknown symbol): not a mark of the clock
        mark("X", 1.0, 5_000),  # stale: neither
    ]
    assert watched(events) == [(1_000, 1_100, 101.0), (5_000, 1_700, 102.0)]


def test_a_large_move_brings_the_next_epoch_to_just_after_it() -> None:
    events = [
        mark("X", 100.0, 500),
        mark("X", 100.0, 1_200),  # epoch 1,000; the interval from 1,000 starts at 100
        mark("X", 102.9, 1_300),  # 2.9%: not large
        mark("X", 103.0, 1_400),  # 3%: large, epoch 1,401 right after it
        mark("X", 104.0, 1_450),
        mark("X", 105.0, 1_500),  # 1.9% from 103: the reference moved with the large move
        mark("X", 106.0, 2_100),  # epoch 2,000
    ]
    assert watched(events) == [(1_000, 500, 100.0), (1_401, 1_400, 103.0), (2_000, 1_500, 105.0)]


def test_no_listener_no_epochs_and_the_same_outcomes() -> None:
    events = [mark("X", 100.0, 500), position("a", "X", 1.0, 100.0, 900), mark("X", 50.0, 1_500)]
    plain = Engine([make_instrument("X", tiers=[{"mmr": 0.01}])])
    listening = Engine(
        [make_instrument("X", tiers=[{"mmr": 0.01}])],
        fund=FundParameters(projection_interval_ms=1_000),
    )
    epochs: list[int] = []
    listening.watch_epochs(epochs.append)
    assert [send(plain, e) for e in events] == [send(listening, e) for e in events]
    assert epochs == [1_000, 1_501]  # the fall to 50 is a large move
