"""Engine behaviour through `Engine.apply`: stale events, mode switches and instrument changes
(SPEC §3, §4, §9; docs/ENGINE.md)."""

from __future__ import annotations

from typing import Any

import pytest

from risk import Engine
from tests.risk.builders import (
    X_TIERS,
    accepted,
    balance,
    definition,
    engine_xy,
    isolated_x,
    mark,
    moves,
    position,
    send,
    views,
)


def statuses(engine: Engine, *events: dict[str, Any]) -> list[str]:
    return [send(engine, event).status for event in events]


def test_position_staleness_by_seq_by_ts_and_mixed() -> None:
    engine = engine_xy()
    assert statuses(
        engine,
        position("a", "X", 1.0, 100.0, 10, seq=5),
        position("a", "X", 2.0, 100.0, 99, seq=4),  # both carry seq: 4 < 5, stale
        position("a", "X", 2.0, 100.0, 9),  # no seq: ts 9 < 10, stale
        position("a", "X", 2.0, 100.0, 11),  # no seq: ts 11 >= 10
        position("a", "X", 3.0, 100.0, 12, seq=1),  # the last applied had no seq: by ts
        position("a", "X", 3.0, 100.0, 12, seq=1),  # equal keys: applied again
        position("a", "X", 4.0, 100.0, 13, seq=0),  # seq 0 < 1, stale
    ) == ["accepted", "stale", "stale", "accepted", "accepted", "accepted", "stale"]
    assert [held.size for held in views(engine)["a/cross/USDT"].positions] == [3.0]


def test_balance_staleness_by_seq_and_ts() -> None:
    engine = engine_xy()
    accepted(engine, position("a", "X", 1.0, 100.0, 1))
    assert statuses(
        engine,
        balance("a", "USDT", 10.0, 10, seq=5),
        balance("a", "USDT", 20.0, 99, seq=4),
        balance("a", "USDT", 30.0, 9),
        balance("a", "USDT", 40.0, 10),
    ) == ["accepted", "stale", "stale", "accepted"]
    assert views(engine)["a/cross/USDT"].wallet == 40.0


def test_an_older_update_after_a_close_is_stale_and_does_not_reopen() -> None:
    engine = engine_xy()
    assert statuses(
        engine,
        position("a", "X", 1.0, 100.0, 10, seq=5),
        position("a", "X", 0.0, 100.0, 11, seq=6),
        position("a", "X", 1.0, 100.0, 9, seq=5),  # seq 5 < 6: stale
        position("a", "X", 1.0, 100.0, 10),  # no seq, ts 10 < 11: stale
    ) == ["accepted", "accepted", "stale", "stale"]
    assert engine.tracked_accounts() == []
    assert statuses(engine, position("a", "X", 1.0, 100.0, 5, seq=7)) == ["accepted"]
    assert list(views(engine)) == ["a/cross/USDT"]


def test_a_close_of_a_position_that_is_not_open_records_its_keys() -> None:
    engine = engine_xy()
    outcome = accepted(engine, position("a", "X", 0.0, 100.0, 10))
    assert (outcome.transitions, engine.tracked_accounts()) == ((), [])
    assert statuses(
        engine, position("a", "X", 1.0, 100.0, 9), position("a", "X", 1.0, 100.0, 10)
    ) == ["stale", "accepted"]


def test_stale_and_rejected_events_do_not_move_replay_time() -> None:
    engine = engine_xy()
    accepted(engine, position("a", "X", 1.0, 100.0, 8, seq=3))
    assert statuses(
        engine,
        mark("X", 100.0, 10),
        mark("X", 90.0, 9),  # older than the current mark: stale
        mark("X", 95.0, 10),  # equal ts: applied
        mark("X", -1.0, 50),  # rejected: non-positive price
        mark("Q", 1.0, 60),  # rejected: unknown symbol
        position("a", "X", 1.0, 100.0, 70, seq=2),  # stale
        balance("a", "USDT", 1.0, 5),
        balance("a", "USDT", 1.0, 80, seq=1),  # the last had no seq: by ts, 80 >= 5
        {"type": "fund", "asset": "USDT", "balance": 5.0, "ts": 90},
        {"type": "fund", "asset": "USDT", "balance": 5.0, "ts": 85},  # stale
    ) == [
        "accepted",
        "stale",
        "accepted",
        "rejected",
        "rejected",
        "stale",
        "accepted",
        "accepted",
        "accepted",
        "stale",
    ]
    assert engine.replay_time == 90
    assert statuses(engine, balance("a", "USDT", 1.0, 100, seq=0)) == ["stale"]  # 0 < 1
    assert engine.replay_time == 90
    assert views(engine)["a/cross/USDT"].positions[0].mark_price == 95.0


def test_mode_switch_to_isolated_closes_the_cross_account() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 100.0, 1))
    accepted(engine, balance("a", "USDT", 1.5, 1))
    assert moves(accepted(engine, position("a", "X", 1.0, 100.0, 2))) == [
        ("a/cross/USDT#1", "safe", "watch", "position")  # ratio 1 / 1.5
    ]
    # Isolated with margin 1.2: ratio 0.833, margin_call. Records ordered by margin account id.
    assert moves(accepted(engine, isolated_x(1.0, 3, 1.2))) == [
        ("a/cross/USDT#2", "watch", "safe", "close"),
        ("a/isolated/X#1", "safe", "margin_call", "position"),
    ]
    assert list(views(engine)) == ["a/isolated/X"]
    # Back to cross (wallet 1.5, ratio 0.667): the isolated account closes, the cross one reopens.
    assert moves(accepted(engine, position("a", "X", 1.0, 100.0, 4))) == [
        ("a/cross/USDT#3", "safe", "watch", "position"),
        ("a/isolated/X#2", "margin_call", "safe", "close"),
    ]


def test_mode_switch_re_evaluates_a_cross_account_that_keeps_positions() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 100.0, 1))
    accepted(engine, mark("Y", 100.0, 1))
    accepted(engine, balance("a", "USDT", 3.0, 1))
    # Y: MM 2, ratio 2 / 3 = 0.667, watch; X: MM 1 more, ratio 3 / 3 = 1, liquidation.
    assert moves(accepted(engine, position("a", "Y", 1.0, 100.0, 2))) == [
        ("a/cross/USDT#1", "safe", "watch", "position")
    ]
    assert moves(accepted(engine, position("a", "X", 1.0, 100.0, 2))) == [
        ("a/cross/USDT#2", "watch", "liquidation", "position")
    ]
    # X leaves: MM 2, ratio 0.667, raw(0.717) = watch; isolated X at 1 / 50 stays safe.
    assert moves(accepted(engine, isolated_x(1.0, 3, 50.0))) == [
        ("a/cross/USDT#3", "liquidation", "watch", "position")
    ]


def test_kind_or_settle_change_is_refused_with_or_without_open_positions() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 100.0, 1))
    accepted(engine, isolated_x(1.0, 2, 5.0))
    changes = (definition("X", settle="USDC"), definition("X", kind="inverse"))
    for change in changes:
        outcome = send(engine, {**change, "tiers": X_TIERS})
        assert outcome == ("rejected", "instrument kind or settle change", ())
    view = views(engine)["a/isolated/X"]
    assert (view.settle, view.maintenance_margin) == ("USDT", 1.0)  # unchanged
    accepted(engine, isolated_x(0.0, 3, 5.0))
    for change in (*changes, definition("X", "inverse", "BTC")):
        outcome = send(engine, {**change, "tiers": X_TIERS})
        assert outcome == ("rejected", "instrument kind or settle change", ())
    accepted(engine, isolated_x(1.0, 4, 5.0))
    assert views(engine)["a/isolated/X"].settle == "USDT"


def test_a_tier_change_re_tiers_and_re_evaluates() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 100.0, 1))
    accepted(engine, isolated_x(1.0, 2, 5.0))  # MM 1, ratio 0.2
    # Notional 100 in the new tier 1: MM = 100 * 0.1 - 50 * (0.1 - 0.01) = 10 - 4.5 = 5.5;
    # ratio 5.5 / 5 = 1.1: liquidation.
    tiers = [{"cap": 50, "mmr": 0.01}, {"mmr": 0.1}]
    (record,) = accepted(engine, definition("X", tiers=tiers)).transitions
    assert record.to_level == "liquidation"
    assert record.maintenance_margin == pytest.approx(5.5, rel=1e-12)
    # Back to one tier at 1%: MM 1 again.
    accepted(engine, definition("X", tiers=X_TIERS))
    assert views(engine)["a/isolated/X"].maintenance_margin == pytest.approx(1.0, rel=1e-12)


def test_a_contract_size_change_re_values_open_positions() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 110.0, 1))
    accepted(engine, isolated_x(1.0, 2, 5.0))  # uPnL 10, MM 1.1
    # Contract size 2: notional 1 * 2 * 110 = 220, MM 2.2, uPnL 1 * 2 * (110 - 100) = 20.
    accepted(engine, definition("X", tiers=X_TIERS, contract_size=2.0))
    view = views(engine)["a/isolated/X"]
    assert view.maintenance_margin == pytest.approx(2.2, rel=1e-12)
    assert view.equity == pytest.approx(25.0, rel=1e-12)
    assert view.positions[0].notional == pytest.approx(220.0, rel=1e-12)
