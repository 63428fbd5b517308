"""Lookups the HTTP API makes: a margin account by id, and the worst accounts first."""

from __future__ import annotations

from risk.engine import Engine
from risk.levels import Level
from tests.risk.builders import accepted, balance, make_engine, make_instrument, mark, position


def engine_with_accounts() -> Engine:
    """X: linear USDT, one tier at 1%; Y: linear USDC. Ratios by construction below."""
    engine = make_engine(
        make_instrument("X", tiers=[{"mmr": 0.01}]),
        make_instrument("Y", settle="USDC", tiers=[{"mmr": 0.01}]),
    )
    accepted(engine, mark("X", 100.0, 1))
    accepted(engine, mark("Y", 100.0, 1))
    # 10 X at 100: notional 1000, MM 10. Wallets 12.5, 11, 20, 1000 give ratios 0.8, 0.909,
    # 0.5, 0.01; isolated margin 5 on 10 X gives ratio 2 (liquidation).
    for name, wallet in (("mc", 12.5), ("mc2", 11.0), ("watch", 20.0), ("safe", 1000.0)):
        accepted(engine, balance(name, "USDT", wallet, 2))
        accepted(engine, position(name, "X", 10.0, 100.0, 3))
    accepted(engine, position("iso", "X", 10.0, 100.0, 3, mode="isolated", margin=5.0))
    accepted(
        engine,
        position("hedge", "X", -10.0, 100.0, 3, mode="isolated", margin=5.0, position_side="short"),
    )
    accepted(engine, balance("broke", "USDC", 5.0, 2))
    accepted(engine, position("broke", "Y", 10.0, 100.0, 3))
    accepted(engine, mark("Y", 99.0, 4))  # uPnL -10: equity -5, bankrupt
    return engine


def test_find_margin_account_by_its_spec_id() -> None:
    engine = engine_with_accounts()
    for margin_account_id in (
        "mc/cross/USDT",
        "iso/isolated/X",
        "hedge/isolated/X/short",
        "broke/cross/USDC",
    ):
        index = engine.find_margin_account(margin_account_id)
        assert index is not None
        assert engine.margin_account_id(index) == margin_account_id
    for unknown in (
        "nobody/cross/USDT",
        "mc/cross/BTC",
        "mc/isolated/X",
        "iso/isolated/Q",
        "hedge/isolated/X/both",
        "hedge/isolated/X/long",
        "mc",
        "mc/cross",
        "mc/margin/USDT",
        "iso/isolated/X/short/extra",
        "hedge/isolated/X/sideways",
    ):
        assert engine.find_margin_account(unknown) is None, unknown


def test_worst_accounts_rank_level_then_badness() -> None:
    engine = engine_with_accounts()
    names = [engine.margin_account_id(i) for i in engine.worst_accounts(Level.WATCH, 10)]
    assert names == [
        "broke/cross/USDC",  # bankrupt
        "hedge/isolated/X/short",  # liquidation, ratio 2
        "iso/isolated/X",  # liquidation, ratio 2: a tie, so by id
        "mc2/cross/USDT",  # margin_call, 0.909
        "mc/cross/USDT",  # margin_call, 0.8
        "watch/cross/USDT",  # watch, 0.5
    ]
    assert [engine.margin_account_id(i) for i in engine.worst_accounts(Level.LIQUIDATION, 2)] == [
        "broke/cross/USDC",
        "hedge/isolated/X/short",
    ]
    assert engine.worst_accounts(Level.BANKRUPT, 0) == []
    assert len(engine.worst_accounts(Level.SAFE, 100)) == 7


def test_bankrupt_accounts_rank_by_the_deepest_deficit() -> None:
    engine = make_engine(make_instrument("X", tiers=[{"mmr": 0.01}]))
    accepted(engine, mark("X", 100.0, 1))
    for name, wallet in (("shallow", 9.0), ("deep", 1.0)):
        accepted(engine, balance(name, "USDT", wallet, 2))
        accepted(engine, position(name, "X", 1.0, 100.0, 3))
    accepted(engine, mark("X", 90.0, 4))  # uPnL -10: equity -1 and -9
    ranked = [engine.margin_account_id(i) for i in engine.worst_accounts(Level.BANKRUPT, 5)]
    assert ranked == ["deep/cross/USDT", "shallow/cross/USDT"]
