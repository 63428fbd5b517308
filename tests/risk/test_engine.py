"""Engine behaviour through `Engine.apply` (SPEC §3-§5, §7; docs/ENGINE.md)."""

from __future__ import annotations

from typing import Any

import pytest

from risk import Engine, Outcome, Transition, parse_event
from risk.events import InstrumentEvent

X = {
    "type": "instrument",
    "symbol": "X",
    "kind": "linear",
    "settle": "USDT",
    "tiers": [{"mmr": 0.01}],
}


def engine_with(*definitions: dict[str, Any]) -> Engine:
    instruments = []
    for definition in definitions or (X,):
        parsed = parse_event(definition)
        assert isinstance(parsed, InstrumentEvent)
        instruments.append(parsed.instrument)
    return Engine(instruments)


def send(engine: Engine, **event: Any) -> Outcome:
    return engine.apply(parse_event(event))


def moves(outcome: Outcome) -> list[tuple[str, str, str, str]]:
    return [(t.event_id, t.from_level, t.to_level, t.trigger) for t in outcome.transitions]


def mark(engine: Engine, price: float, ts: int, symbol: str = "X") -> Outcome:
    return send(engine, type="mark", symbol=symbol, price=price, ts=ts)


def position(engine: Engine, size: float, ts: int, **extra: Any) -> Outcome:
    event = {
        "type": "position",
        "account": "a",
        "symbol": "X",
        "size": size,
        "entry_price": 100.0,
        "ts": ts,
        **extra,
    }
    return engine.apply(parse_event(event))


def test_cross_account_sums_its_positions() -> None:
    engine = engine_with(X, {**X, "symbol": "Y", "tiers": [{"mmr": 0.02}]})
    mark(engine, 110.0, 1)
    mark(engine, 50.0, 1, "Y")
    send(engine, type="balance", account="a", asset="USDT", wallet=1000.0, ts=2)
    position(engine, 2.0, 3)  # uPnL 2 * (110 - 100) = 20, MM 220 * 0.01 = 2.2
    send(engine, type="position", account="a", symbol="Y", size=-10.0, entry_price=40.0, ts=3)
    # Y: uPnL -10 * (50 - 40) = -100, MM 500 * 0.02 = 10.
    view = engine.account_view(engine.tracked_accounts()[0])
    assert view.equity == pytest.approx(1000.0 + 20.0 - 100.0)
    assert view.maintenance_margin == pytest.approx(12.2)
    assert view.margin_ratio == pytest.approx(12.2 / 920.0)


def test_event_ids_count_up_and_never_restart() -> None:
    engine = engine_with()
    mark(engine, 100.0, 1)
    # Isolated 1 X at 100 with 1.5 margin: MM 1, ratio 0.667: watch.
    assert moves(position(engine, 1.0, 2, mode="isolated", margin=1.5)) == [
        ("a/isolated/X#1", "safe", "watch", "position")
    ]
    # Mark 99.4: equity 0.9, ratio 0.994 / 0.9 = 1.104: liquidation.
    assert moves(mark(engine, 99.4, 3)) == [("a/isolated/X#2", "watch", "liquidation", "mark:X")]
    closing = position(engine, 0.0, 4, mode="isolated")
    assert moves(closing) == [("a/isolated/X#3", "liquidation", "safe", "close")]
    (record,) = closing.transitions
    assert (record.margin_ratio, record.equity, record.maintenance_margin, record.positions) == (
        0.0,
        None,
        0.0,
        (),
    )
    assert engine.tracked_accounts() == []
    # Reopened at 1.5 margin and mark 99.4: equity 0.9 again: liquidation, id #4.
    assert moves(position(engine, 1.0, 5, mode="isolated", margin=1.5)) == [
        ("a/isolated/X#4", "safe", "liquidation", "position")
    ]


def test_close_of_a_safe_account_emits_nothing_and_untracks_it() -> None:
    engine = engine_with()
    send(engine, type="balance", account="a", asset="USDT", wallet=1000.0, ts=1)
    position(engine, 1.0, 2)
    outcome = position(engine, 0.0, 3)
    assert (outcome.status, outcome.transitions) == ("accepted", ())
    assert engine.level_counts()["safe"] == 0


def test_hedge_legs_get_their_own_isolated_accounts() -> None:
    engine = engine_with()
    mark(engine, 100.0, 1)
    long = position(engine, 1.0, 2, mode="isolated", margin=1.2, position_side="long")
    short = position(engine, -1.0, 2, mode="isolated", margin=1.2, position_side="short")
    assert [t.margin_account for t in long.transitions + short.transitions] == [
        "a/isolated/X/long",
        "a/isolated/X/short",
    ]


def test_stale_by_seq_by_ts_and_mixed() -> None:
    engine = engine_with()
    assert position(engine, 1.0, 10, seq=5).status == "accepted"
    assert position(engine, 2.0, 99, seq=4).status == "stale"  # seq 4 < 5, ts ignored
    assert position(engine, 2.0, 9).status == "stale"  # no seq: ts 9 < 10
    assert position(engine, 2.0, 11).status == "accepted"  # no seq: ts 11 >= 10
    assert position(engine, 3.0, 12, seq=1).status == "accepted"  # last had no seq: by ts
    assert position(engine, 3.0, 12, seq=1).status == "accepted"  # equal keys re-apply
    view = engine.account_view(engine.tracked_accounts()[0])
    assert view.positions[0].size == 3.0


def test_an_older_update_after_a_close_is_stale() -> None:
    engine = engine_with()
    position(engine, 1.0, 10, seq=5)
    assert position(engine, 0.0, 11, seq=6).status == "accepted"
    assert position(engine, 1.0, 9, seq=5).status == "stale"
    assert engine.tracked_accounts() == []


def test_marks_older_than_current_are_stale_and_do_not_move_replay_time() -> None:
    engine = engine_with()
    assert mark(engine, 100.0, 10).status == "accepted"
    assert mark(engine, 90.0, 9).status == "stale"
    assert mark(engine, -1.0, 50).status == "rejected"
    assert send(engine, type="mark", symbol="Q", price=1.0, ts=60).reason == "unknown symbol"
    assert engine.replay_time == 10
    assert engine.marks[engine.symbols["X"]] == 100.0


def test_mode_switch_closes_the_cross_account() -> None:
    engine = engine_with()
    mark(engine, 100.0, 1)
    send(engine, type="balance", account="a", asset="USDT", wallet=1.5, ts=1)
    assert moves(position(engine, 1.0, 2)) == [("a/cross/USDT#1", "safe", "watch", "position")]
    switched = position(engine, 1.0, 3, mode="isolated", margin=50.0)
    # Records come ordered by margin account id: "a/cross/USDT" < "a/isolated/X".
    assert moves(switched) == [("a/cross/USDT#2", "watch", "safe", "close")]
    assert [engine.margin_account_id(a) for a in engine.tracked_accounts()] == ["a/isolated/X"]


def test_records_of_one_mark_are_ordered_by_margin_account_id() -> None:
    engine = engine_with()
    mark(engine, 100.0, 1)
    for account in ("zed", "amy", "kim"):
        send(
            engine,
            type="position",
            account=account,
            symbol="X",
            size=1.0,
            entry_price=100.0,
            mode="isolated",
            margin=5.0,
            ts=2,
        )
    outcome = mark(engine, 96.0, 3)  # equity 1, MM 0.96: ratio 0.96 for all three
    assert [t.margin_account for t in outcome.transitions] == [
        "amy/isolated/X",
        "kim/isolated/X",
        "zed/isolated/X",
    ]


def test_instrument_change_re_evaluates_at_replay_time() -> None:
    engine = engine_with()
    mark(engine, 100.0, 7)
    position(engine, 1.0, 8, mode="isolated", margin=5.0)  # MM 1, ratio 0.2: safe
    outcome = send(engine, **{**X, "tiers": [{"mmr": 0.045}]})  # MM 4.5, ratio 0.9
    (record,) = outcome.transitions
    assert (record.to_level, record.trigger, record.ts) == ("margin_call", "instrument", 8)


def test_kind_or_settle_change_with_open_positions_is_refused() -> None:
    engine = engine_with()
    position(engine, 1.0, 1)
    assert send(engine, **{**X, "settle": "USDC"}).reason == (
        "instrument kind or settle change with open positions"
    )
    assert send(engine, **{**X, "kind": "inverse"}).status == "rejected"
    position(engine, 0.0, 2)
    assert send(engine, **{**X, "settle": "USDC"}).status == "accepted"


def test_position_without_mark_is_valued_at_entry() -> None:
    engine = engine_with()
    send(engine, type="balance", account="a", asset="USDT", wallet=2.0, ts=1)
    outcome = position(engine, 1.0, 2)  # MM 100 * 0.01 = 1, equity 2: ratio 0.5: watch
    (record,) = outcome.transitions
    (held,) = record.positions
    assert held.mark_price is None
    assert (held.notional, held.unrealized_pnl, record.margin_ratio) == (100.0, 0.0, 0.5)


def test_balance_change_triggers_balance_records() -> None:
    engine = engine_with()
    mark(engine, 100.0, 1)
    send(engine, type="balance", account="a", asset="USDT", wallet=10.0, ts=1)
    position(engine, 1.0, 2)
    outcome = send(engine, type="balance", account="a", asset="USDT", wallet=0.5, ts=3)
    assert moves(outcome) == [("a/cross/USDT#1", "safe", "liquidation", "balance")]
    (record,) = outcome.transitions
    assert isinstance(record, Transition)
    # equity 0.5, MM 1: ratio 2.0: liquidation (equity still positive).
    assert (record.to_level, record.margin_ratio) == ("liquidation", 2.0)
