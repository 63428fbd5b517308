"""Engine behaviour through `Engine.apply` (SPEC §3-§7; docs/ENGINE.md)."""

from __future__ import annotations

import pytest

from tests.risk.builders import (
    X_TIERS,
    accepted,
    balance,
    definition,
    engine_xy,
    isolated_x,
    make_engine,
    make_instrument,
    mark,
    moves,
    position,
    send,
    views,
)


def test_cross_accounts_sum_their_positions_per_settle_asset() -> None:
    engine = engine_xy()
    for event in (mark("X", 110.0, 1), mark("Y", 50.0, 1), mark("I", 40000.0, 1)):
        accepted(engine, event)
    accepted(engine, balance("a", "USDT", 1000.0, 2))
    accepted(engine, balance("a", "BTC", 2.0, 2))
    accepted(engine, position("a", "Y", -10.0, 40.0, 3))
    accepted(engine, position("a", "X", 2.0, 100.0, 3))
    accepted(engine, position("a", "I", 1000.0, 50000.0, 3))
    usdt, btc = views(engine)["a/cross/USDT"], views(engine)["a/cross/BTC"]
    # X: uPnL 2 * (110 - 100) = 20, MM 220 * 0.01 = 2.2; Y: uPnL -10 * (50 - 40) = -100,
    # MM 500 * 0.02 = 10. equity 1000 + 20 - 100 = 920, MM 12.2, ratio 12.2 / 920.
    assert usdt.wallet == 1000.0
    assert usdt.equity == pytest.approx(920.0, rel=1e-12)
    assert usdt.maintenance_margin == pytest.approx(12.2, rel=1e-12)
    assert usdt.margin_ratio == pytest.approx(12.2 / 920.0, rel=1e-12)
    assert [held.symbol for held in usdt.positions] == ["X", "Y"]
    # I: notional 1000 * 100 / 40000 = 2.5 BTC, uPnL 100000 * (1/50000 - 1/40000) = -0.5,
    # MM 0.025; equity 2 - 0.5 = 1.5, ratio 0.025 / 1.5.
    assert btc.settle == "BTC"
    assert btc.equity == pytest.approx(1.5, rel=1e-12)
    assert btc.margin_ratio == pytest.approx(0.025 / 1.5, rel=1e-12)
    assert (usdt.level, btc.level) == ("safe", "safe")


def test_isolated_margin_is_replaced_by_each_event() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 100.0, 1))
    # 1 X at 100: MM 1. Margin 5: ratio 0.2; 1.5: 0.667 watch; 1.1: 0.909 margin_call; 10: safe.
    expected = [(5.0, []), (1.5, ["watch"]), (1.1, ["margin_call"]), (10.0, ["safe"])]
    for ts, (margin, levels) in enumerate(expected, start=2):
        outcome = accepted(engine, isolated_x(1.0, ts, margin))
        assert [t.to_level for t in outcome.transitions] == levels
        view = views(engine)["a/isolated/X"]
        assert (view.wallet, view.equity, view.margin_ratio) == (margin, margin, 1.0 / margin)


def test_margin_account_ids_in_hedge_and_one_way_mode() -> None:
    engine = make_engine(make_instrument("X", tiers=X_TIERS), make_instrument("Z", tiers=X_TIERS))
    accepted(engine, isolated_x(1.0, 1, 5.0, position_side="long"))
    accepted(engine, isolated_x(-1.0, 1, 5.0, position_side="short"))
    accepted(engine, position("a", "Z", 1.0, 100.0, 1, mode="isolated", margin=5.0))
    accepted(engine, position("b", "X", 1.0, 100.0, 1, position_side="long"))
    accepted(engine, position("b", "X", -2.0, 100.0, 1, position_side="short"))
    assert list(views(engine)) == [
        "a/isolated/X/long",
        "a/isolated/X/short",
        "a/isolated/Z",
        "b/cross/USDT",
    ]
    assert [held.position_side for held in views(engine)["b/cross/USDT"].positions] == [
        "long",
        "short",
    ]


def test_event_ids_count_up_and_never_restart() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 100.0, 1))
    # Margin 1.5, MM 1: ratio 0.667, watch.
    assert moves(accepted(engine, isolated_x(1.0, 2, 1.5))) == [
        ("a/isolated/X#1", "safe", "watch", "position")
    ]
    # Mark 99.4: equity 1.5 - 0.6 = 0.9, MM 0.994, ratio 1.104: liquidation.
    assert moves(accepted(engine, mark("X", 99.4, 3))) == [
        ("a/isolated/X#2", "watch", "liquidation", "mark:X")
    ]
    assert moves(accepted(engine, isolated_x(0.0, 4, 1.5))) == [
        ("a/isolated/X#3", "liquidation", "safe", "close")
    ]
    assert engine.tracked_accounts() == []
    # Reopened at margin 1.5 and mark 99.4: equity 0.9 again, liquidation, id #4 (not #1).
    assert moves(accepted(engine, isolated_x(1.0, 5, 1.5))) == [
        ("a/isolated/X#4", "safe", "liquidation", "position")
    ]
    # Mark 100: ratio 0.667, raw(0.717) = watch.
    assert moves(accepted(engine, mark("X", 100.0, 6))) == [
        ("a/isolated/X#5", "liquidation", "watch", "mark:X")
    ]


def test_close_record_shape() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 100.0, 1))
    accepted(engine, isolated_x(1.0, 2, 1.5))  # watch
    (record,) = accepted(engine, isolated_x(0.0, 9, 1.5)).transitions
    assert record.as_record() == {
        "event_id": "a/isolated/X#2",
        "margin_account": "a/isolated/X",
        "account": "a",
        "mode": "isolated",
        "settle": "USDT",
        "from": "watch",
        "to": "safe",
        "margin_ratio": 0.0,
        "equity": None,
        "maintenance_margin": 0.0,
        "ts": 9,
        "trigger": "close",
        "positions": [],
    }


def test_closing_a_safe_account_emits_nothing_and_untracks_it() -> None:
    engine = engine_xy()
    accepted(engine, balance("a", "USDT", 1000.0, 1))
    accepted(engine, position("a", "X", 1.0, 100.0, 2))
    assert accepted(engine, position("a", "X", 0.0, 100.0, 3)).transitions == ()
    assert engine.tracked_accounts() == []
    assert engine.level_counts() == dict.fromkeys(
        ("safe", "watch", "margin_call", "liquidation", "bankrupt"), 0
    )


def test_triggers_and_their_timestamps() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 100.0, 1))
    accepted(engine, balance("a", "USDT", 10.0, 2))
    # MM 1, equity 10: ratio 0.1 safe.
    assert moves(accepted(engine, position("a", "X", 1.0, 100.0, 3))) == []
    # Wallet 1.5: ratio 0.667.
    (record,) = accepted(engine, balance("a", "USDT", 1.5, 4)).transitions
    assert (record.to_level, record.trigger, record.ts) == ("watch", "balance", 4)
    # Mark 99.5: equity 1.0, MM 0.995: ratio 0.995, margin_call.
    (record,) = accepted(engine, mark("X", 99.5, 5)).transitions
    assert (record.to_level, record.trigger, record.ts) == ("margin_call", "mark:X", 5)
    # Size 2: uPnL -1, equity 0.5, MM 1.99: ratio 3.98.
    (record,) = accepted(engine, position("a", "X", 2.0, 100.0, 6)).transitions
    assert (record.to_level, record.trigger, record.ts) == ("liquidation", "position", 6)
    accepted(engine, {"type": "fund", "asset": "USDT", "balance": 5.0, "ts": 40})
    # mmr 0.001: MM 0.199, ratio 0.398, raw(0.448) = safe; ts = replay time 40 (the fund event).
    (record,) = accepted(engine, definition("X", tiers=[{"mmr": 0.001}])).transitions
    assert (record.to_level, record.trigger, record.ts) == ("safe", "instrument", 40)


def test_records_of_one_event_are_ordered_by_margin_account_id() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 100.0, 1))
    for account in ("zed", "kim", "amy"):
        accepted(engine, position(account, "X", 1.0, 100.0, 2, mode="isolated", margin=5.0))
    accepted(engine, balance("amy", "USDT", 5.0, 2))
    accepted(engine, position("amy", "X", 1.0, 100.0, 2, position_side="long"))
    # Mark 96: every account has equity 5 - 4 = 1 and MM 0.96: ratio 0.96, margin_call.
    outcome = accepted(engine, mark("X", 96.0, 3))
    assert [t.margin_account for t in outcome.transitions] == [
        "amy/cross/USDT",
        "amy/isolated/X",
        "kim/isolated/X",
        "zed/isolated/X",
    ]
    assert {t.to_level for t in outcome.transitions} == {"margin_call"}


def test_a_position_without_a_mark_is_valued_at_its_entry() -> None:
    engine = engine_xy()
    accepted(engine, balance("a", "USDT", 2.0, 1))
    # MM 100 * 0.01 = 1, uPnL 0, equity 2: ratio 0.5, watch.
    (record,) = accepted(engine, position("a", "X", 1.0, 100.0, 2)).transitions
    (held,) = record.positions
    assert (held.mark_price, held.notional, held.unrealized_pnl) == (None, 100.0, 0.0)
    assert (record.to_level, record.margin_ratio) == ("watch", 0.5)
    # Mark 50: uPnL -50, equity -48: bankrupt, ratio null.
    (record,) = accepted(engine, mark("X", 50.0, 3)).transitions
    assert (record.to_level, record.margin_ratio, record.equity) == ("bankrupt", None, -48.0)
    assert record.positions[0].mark_price == 50.0


def test_bankrupt_without_wallet_and_recovery_past_the_band() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 100.0, 1))
    # No balance: wallet 0, uPnL 0, equity 0 with a position: bankrupt.
    (record,) = accepted(engine, position("a", "X", 1.0, 100.0, 2)).transitions
    assert (record.to_level, record.equity, record.margin_ratio) == ("bankrupt", 0.0, None)
    # Wallet 2: ratio 0.5, raw(0.55) = watch.
    assert moves(accepted(engine, balance("a", "USDT", 2.0, 3))) == [
        ("a/cross/USDT#2", "bankrupt", "watch", "balance")
    ]


def test_balance_only_accounts_are_not_tracked() -> None:
    engine = engine_xy()
    accepted(engine, balance("a", "USDT", 2.0, 1))
    accepted(engine, balance("b", "USDT", 1.0, 1))
    accepted(engine, position("b", "X", 1.0, 100.0, 2))  # ratio 1: liquidation
    assert list(views(engine)) == ["b/cross/USDT"]
    assert engine.level_counts() == {
        "safe": 0,
        "watch": 0,
        "margin_call": 0,
        "liquidation": 1,
        "bankrupt": 0,
    }


def test_a_table_with_more_than_127_tiers_is_valued() -> None:
    # 200 tiers: caps 1, 2, ..., 199 and rates 0.001, 0.002, ..., 0.199, then 0.3. Nothing in
    # SPEC or ENGINE.md bounds the number of tiers, and nothing may crash the monitor.
    tiers: list[dict[str, float]] = [{"cap": n + 1.0, "mmr": (n + 1) / 1000} for n in range(199)]
    tiers.append({"mmr": 0.3})
    instrument = make_instrument("X", tiers=tiers)
    engine = make_engine(instrument)
    accepted(engine, balance("a", "USDT", 1000.0, 1))
    # Notional 150.5 is in tier 150 (cap_149 = 150 < 150.5 <= cap_150 = 151): MM from the table.
    accepted(engine, position("a", "X", 150.5, 1.0, 2))
    expected = instrument.tiers.maintenance(150.5)
    assert views(engine)["a/cross/USDT"].maintenance_margin == pytest.approx(expected, rel=1e-12)
    accepted(engine, mark("X", 1.0, 3))
    assert views(engine)["a/cross/USDT"].maintenance_margin == pytest.approx(expected, rel=1e-12)


def test_a_safe_cross_account_left_by_a_mode_switch_emits_no_close_record() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 100.0, 1))
    accepted(engine, balance("a", "USDT", 100.0, 1))
    # MM 1, equity 100: ratio 0.01, safe.
    assert moves(accepted(engine, position("a", "X", 1.0, 100.0, 2))) == []
    # Isolated with margin 1.5: ratio 0.667, watch; the cross account was safe: no close record.
    assert moves(accepted(engine, isolated_x(1.0, 3, 1.5))) == [
        ("a/isolated/X#1", "safe", "watch", "position")
    ]
    assert list(views(engine)) == ["a/isolated/X"]


def test_a_hedge_leg_moves_from_isolated_to_cross() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 100.0, 1))
    accepted(engine, balance("a", "USDT", 1.5, 1))
    # Isolated long leg, margin 1.2: ratio 1 / 1.2 = 0.833, margin_call.
    assert moves(accepted(engine, isolated_x(1.0, 2, 1.2, position_side="long"))) == [
        ("a/isolated/X/long#1", "safe", "margin_call", "position")
    ]
    # The same leg in cross (wallet 1.5): ratio 0.667, watch; the isolated leg's account closes.
    assert moves(accepted(engine, position("a", "X", 1.0, 100.0, 3, position_side="long"))) == [
        ("a/cross/USDT#1", "safe", "watch", "position"),
        ("a/isolated/X/long#2", "margin_call", "safe", "close"),
    ]


def test_a_stale_mark_changes_nothing() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 100.0, 10))
    accepted(engine, isolated_x(1.0, 11, 1.5))  # ratio 0.667, watch
    # Mark 50 at ts 9 < 10: stale. Had it applied, equity 1.5 - 50 < 0: bankrupt.
    assert send(engine, mark("X", 50.0, 9)) == ("stale", None, ())
    view = views(engine)["a/isolated/X"]
    assert (view.level, view.equity, view.positions[0].mark_price) == ("watch", 1.5, 100.0)
    assert engine.replay_time == 11


def test_an_instrument_change_before_any_ts_uses_replay_time_zero() -> None:
    engine = engine_xy()
    accepted(engine, isolated_x(1.0, 0, 1.5))  # no mark: valued at entry 100, ratio 0.667
    # mmr 0.02: MM 2 on equity 1.5, ratio 1.333: liquidation; replay time is still 0.
    (record,) = accepted(engine, definition("X", tiers=[{"mmr": 0.02}])).transitions
    assert (record.to_level, record.trigger, record.ts) == ("liquidation", "instrument", 0)


def test_event_ids_count_per_margin_account() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 100.0, 1))
    accepted(engine, mark("Y", 100.0, 1))
    # X isolated, margin 1.5: ratio 0.667 watch (#1). Y isolated, MM 2, margin 2.2: 0.909 (#1).
    assert moves(accepted(engine, isolated_x(1.0, 2, 1.5))) == [
        ("a/isolated/X#1", "safe", "watch", "position")
    ]
    y_position = position("a", "Y", 1.0, 100.0, 2, mode="isolated", margin=2.2)
    assert moves(accepted(engine, y_position)) == [
        ("a/isolated/Y#1", "safe", "margin_call", "position")
    ]
    # X margin 1.0: ratio 1, liquidation: X's second record, #2.
    assert moves(accepted(engine, isolated_x(1.0, 3, 1.0))) == [
        ("a/isolated/X#2", "watch", "liquidation", "position")
    ]


def test_an_isolated_close_event_closes_a_cross_position_of_that_identity() -> None:
    engine = engine_xy()
    accepted(engine, mark("X", 100.0, 1))
    accepted(engine, balance("a", "USDT", 1.5, 1))
    accepted(engine, position("a", "X", 1.0, 100.0, 2))  # watch
    # A position is identified by (account, symbol, position_side), not by its mode.
    assert moves(accepted(engine, position("a", "X", 0.0, 0.0, 3, mode="isolated"))) == [
        ("a/cross/USDT#2", "watch", "safe", "close")
    ]
    assert engine.tracked_accounts() == []
