"""The retention rule at its edges (SPEC §13; docs/ENGINE.md, "Retention"), horizon 1 h."""

from __future__ import annotations

from typing import Any

from risk import Engine, parse_event
from risk.checkpoint import restore
from risk.retention import HOUR_MS, Retention
from tests.risk.builders import accepted, balance, make_instrument, mark, position, send

H = HOUR_MS


def engine(horizon: int = H) -> Engine:
    return Engine([make_instrument("X", tiers=[{"mmr": 0.01}])], retention=Retention(horizon))


def status(target: Engine, event: dict[str, Any]) -> str:
    return send(target, event).status


def test_a_tombstone_at_the_watermark_is_forgotten_just_after_it_is_remembered() -> None:
    at, after = engine(), engine()
    for target, now in ((at, H), (after, H - 1)):
        accepted(target, position("a", "X", 0.0, 0.0, 0, seq=10))  # a close: a tombstone
        accepted(target, mark("X", 100.0, now))  # watermark now - H: 0 or -1
    # Remembered: seq 5 is older than the tombstone's seq 10, whatever its ts.
    assert status(after, position("a", "X", 1.0, 100.0, 1, seq=5)) == "stale"
    # Forgotten: an unknown identity, judged by ts alone against the watermark 0.
    assert status(at, position("a", "X", 1.0, 100.0, 0, seq=5)) == "stale"
    assert status(at, position("a", "X", 1.0, 100.0, 1, seq=5)) == "accepted"


def test_an_unknown_identity_is_stale_at_or_below_the_watermark() -> None:
    target = engine()
    accepted(target, mark("X", 100.0, H + 100))
    assert status(target, position("new", "X", 1.0, 100.0, 100)) == "stale"
    assert status(target, balance("new", "USDT", 5.0, 100)) == "stale"
    assert status(target, position("new", "X", 1.0, 100.0, 101)) == "accepted"
    assert status(target, balance("new", "USDT", 5.0, 101)) == "accepted"
    assert status(target, balance("new", "USDT", 6.0, 100)) == "stale"  # remembered: ts 101


def test_an_open_position_is_never_forgotten() -> None:
    target = engine()
    accepted(target, position("a", "X", 1.0, 100.0, 0, seq=3))
    accepted(target, mark("X", 100.0, 10 * H))
    target.reclaim()
    assert status(target, position("a", "X", 2.0, 100.0, 1, seq=4)) == "accepted"
    assert status(target, position("a", "X", 2.0, 100.0, 1, seq=2)) == "stale"


def leveraged(target: Engine, ts: int, wallet_too: bool = True) -> list[str]:
    """Wallet 10 and a 1-contract long at 100 (maintenance 1): ratio 0.1, safe; returns ids."""
    if wallet_too:
        accepted(target, balance("a", "USDT", 10.0, ts))
    opened = accepted(target, position("a", "X", 1.0, 100.0, ts))
    moved = accepted(target, mark("X", 98.5, ts + 1))  # equity 8.5, ratio 0.118 -> safe
    return [t.event_id for t in (*opened.transitions, *moved.transitions)]


def test_a_reopened_account_keeps_counting_event_ids_after_it_is_forgotten() -> None:
    target = engine()
    accepted(target, balance("a", "USDT", 1.0, 0))
    opened = accepted(target, position("a", "X", 1.0, 100.0, 0))  # equity 1, ratio 1
    closed = accepted(target, position("a", "X", 0.0, 0.0, 5))
    assert [t.event_id for t in (*opened.transitions, *closed.transitions)] == [
        "a/cross/USDT#1",
        "a/cross/USDT#2",
    ]
    accepted(target, mark("X", 100.0, 5 + H))
    target.reclaim()
    assert (len(target.cross_accounts), target.tombstones, target.accounts_by_name) == (0, {}, {})
    assert target.carried_counts == {"a/cross/USDT": 2}
    assert target.find_margin_account("a/cross/USDT") is None
    again = accepted(target, position("a", "X", 1.0, 100.0, 6 + H))  # wallet 0: bankrupt
    assert [(t.event_id, t.to_level) for t in again.transitions] == [("a/cross/USDT#3", "bankrupt")]
    assert len(target.margin) == 1  # the freed slot was reused
    assert target.carried_counts == {}


def test_a_forgotten_cross_wallet_is_zero_until_the_next_balance() -> None:
    kept, forgotten = engine(), engine()
    for target, gap in ((kept, H - 1), (forgotten, H)):
        accepted(target, balance("a", "USDT", 1000.0, 0))
        accepted(target, position("a", "X", 1.0, 100.0, 1))
        accepted(target, position("a", "X", 0.0, 0.0, 10))  # emptied at 10 (its last close)
        accepted(target, mark("X", 100.0, 10 + gap))
    reopen = position("a", "X", 1.0, 100.0, 20 + H)
    assert accepted(kept, reopen).transitions == ()  # wallet 1000 remembered
    assert [t.to_level for t in accepted(forgotten, reopen).transitions] == ["bankrupt"]
    assert status(forgotten, balance("a", "USDT", 5.0, 9)) == "stale"  # at or below 10


def test_the_later_of_balance_and_close_keeps_an_emptied_account() -> None:
    target = engine()
    accepted(target, position("a", "X", 1.0, 100.0, 0))
    accepted(target, position("a", "X", 0.0, 0.0, 1))
    accepted(target, balance("a", "USDT", 1000.0, 50))  # balance after the close
    accepted(target, mark("X", 100.0, 49 + H))  # watermark 49: close forgotten, balance kept
    target.reclaim()
    assert list(target.tombstones) == []
    assert len(target.cross_accounts) == 1
    assert accepted(target, position("a", "X", 1.0, 100.0, 60 + H)).transitions == ()


def test_churn_of_new_accounts_reuses_slots_and_releases_names() -> None:
    target = engine()
    for batch in range(10):
        now = batch * 2 * H
        accepted(target, mark("X", 100.0, now))
        for number in range(50):
            name = f"acct{batch}-{number}"
            accepted(target, balance(name, "USDT", 100.0, now))
            accepted(target, position(name, "X", 1.0, 100.0, now, mode="isolated", margin=50.0))
            accepted(target, position(name, "X", 0.0, 0.0, now))
    assert len(target.margin) == 100  # one batch's cross and isolated slots, reused
    assert len(target.account_names) == 50
    assert len(target.accounts_by_name) == 50
    assert target.tracked_accounts() == []
    assert target.level_counts()["safe"] == 0


def test_restore_does_not_resurrect_what_the_rule_has_forgotten() -> None:
    events = [
        position("gone", "X", 0.0, 0.0, 0),
        balance("gone", "USDT", 7.0, 0),
        balance("kept", "USDT", 9.0, H),
        position("open", "X", 1.0, 100.0, 0),
    ]
    target = engine()
    restore(target, [parse_event(event) for event in events], {}, 2 * H - 1)  # type: ignore[misc]
    assert sorted(target.accounts_by_name) == ["kept", "open"]
    assert target.tombstones == {}
    assert target.find_margin_account("gone/cross/USDT") is None
    assert target.margin.wallet[target.find_margin_account("kept/cross/USDT") or 0] == 9.0
    assert status(target, position("gone", "X", 1.0, 100.0, H - 1)) == "stale"
    assert len(target.tracked_accounts()) == 1


def test_forgetting_is_for_good_a_later_tombstone_does_not_bring_a_wallet_back() -> None:
    target = engine()
    accepted(target, balance("a", "USDT", 1000.0, 0))
    accepted(target, mark("X", 100.0, H + 5))  # watermark 5: the empty account is forgotten
    accepted(target, position("a", "X", 0.0, 0.0, H + 6))  # a close of nothing: a tombstone
    reopened = accepted(target, position("a", "X", 1.0, 100.0, H + 7))
    assert [t.to_level for t in reopened.transitions] == ["bankrupt"]  # wallet 0, not 1000


def test_a_symbol_nobody_holds_any_more_gives_its_columns_back() -> None:
    """The churn of ever new symbols must not keep each dead symbol's peak capacity."""
    import sys
    from array import array

    target = engine()
    for number in range(2_000):
        accepted(target, position(f"a{number}", "X", 1.0, 100.0, 1))
    block = target.blocks[target.symbols["X"]]
    assert sys.getsizeof(block.size) > sys.getsizeof(array("d")) + 8 * 1_000
    for number in range(2_000):
        accepted(target, position(f"a{number}", "X", 0.0, 0.0, 2))
    assert len(block) == 0
    for column in (block.size, block.entry, block.pnl, block.maintenance, block.band_low):
        assert sys.getsizeof(column) == sys.getsizeof(array(column.typecode))
    accepted(target, position("b", "X", 2.0, 100.0, 3))  # and the block works again
    assert len(block) == 1
    assert block.size[0] == 2.0
