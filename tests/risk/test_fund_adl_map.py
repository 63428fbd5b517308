"""ADL queues, the liquidation map and the slippage walk (SPEC §8), on worked examples and
against the engine's own liquidation prices on random books."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from risk import Engine
from risk.fund.adl import adl_queues
from risk.fund.exposure import exposure_of
from risk.fund.liquidation_map import liquidation_map, liquidation_prices
from risk.fund.slippage import book_of, close_cost
from tests.risk.builders import accepted, balance, make_engine, make_instrument, mark, position
from tests.risk.fund_books import Book, books


def adl_engine() -> Engine:
    engine = make_engine(make_instrument("X", tiers=[{"mmr": 0.01}]))
    accepted(engine, mark("X", 110.0, 1))
    for name, wallet in (("a", 100.0), ("b", 50.0), ("c", 100.0), ("d", 10.0), ("e", 1.0)):
        accepted(engine, balance(name, "USDT", wallet, 1))
    accepted(engine, position("a", "X", 1.0, 100.0, 2))  # uPnL 10, equity 110
    accepted(engine, position("b", "X", 2.0, 90.0, 2))  # uPnL 40, equity 90
    accepted(engine, position("c", "X", 1.0, 120.0, 2))  # a loss: not in the queue
    accepted(engine, position("d", "X", -1.0, 130.0, 2))  # uPnL 20, equity 30
    accepted(engine, position("e", "X", 1.0, 109.0, 2))  # uPnL 1, equity 2
    return engine


def test_adl_scores_and_quintiles() -> None:
    engine = adl_engine()
    queues = adl_queues(exposure_of(engine), engine.margin_account_id, top=10)
    longs = queues["X"]["long"]
    # score = (uPnL / entry notional) * (notional / equity)
    expected = {
        "a/cross/USDT": (10 / 100) * (110 / 110),
        "b/cross/USDT": (40 / 180) * (220 / 90),
        "e/cross/USDT": (1 / 109) * (110 / 2),
    }
    assert [entry.margin_account for entry in longs.top] == [
        "b/cross/USDT",
        "e/cross/USDT",
        "a/cross/USDT",
    ]
    for entry in longs.top:
        assert entry.score == pytest.approx(expected[entry.margin_account], rel=1e-12)
    assert [entry.quintile for entry in longs.top] == [5, 4, 2]  # 5 - floor(5 i / 3)
    assert longs.length == 3
    (short,) = queues["X"]["short"].top
    assert short.score == pytest.approx((20 / 130) * (110 / 30), rel=1e-12)
    assert short.quintile == 5
    top_one = adl_queues(exposure_of(engine), engine.margin_account_id, top=1)["X"]["long"]
    assert [entry.margin_account for entry in top_one.top] == ["b/cross/USDT"]
    assert top_one.length == 3


def test_equal_scores_rank_by_margin_account_id() -> None:
    engine = make_engine(make_instrument("X", tiers=[{"mmr": 0.01}]))
    accepted(engine, mark("X", 110.0, 1))
    for name in ("z", "m", "b"):
        accepted(engine, balance(name, "USDT", 100.0, 1))
        accepted(engine, position(name, "X", 1.0, 100.0, 2))
    queue = adl_queues(exposure_of(engine), engine.margin_account_id, top=2)["X"]["long"]
    assert [entry.margin_account for entry in queue.top] == ["b/cross/USDT", "m/cross/USDT"]
    assert [entry.quintile for entry in queue.top] == [5, 4]


@settings(max_examples=100, deadline=None)
@given(books())
def test_vectorized_liquidation_prices_equal_the_engine_solver(book: Book) -> None:
    engine = book.engine()
    exposure = exposure_of(engine)
    prices = liquidation_prices(exposure, engine.instruments)
    by_position = {}
    for account in engine.tracked_accounts():
        for view in engine.account_view(account).positions:
            by_position[(engine.margin_account_id(account), view.symbol)] = view.liquidation_price
    for row in range(len(prices)):
        account = int(exposure.account_ref[exposure.position_account[row]])
        symbol = exposure.symbols[exposure.position_symbol[row]]
        expected = by_position[(engine.margin_account_id(account), symbol)]
        if expected is None:
            assert np.isnan(prices[row])
        else:
            assert prices[row] == pytest.approx(expected, rel=1e-9)


def test_hedge_mode_legs_share_the_solver_price_and_the_map_bands() -> None:
    engine = make_engine(make_instrument("X", tiers=[{"cap": 1000.0, "mmr": 0.01}, {"mmr": 0.1}]))
    accepted(engine, mark("X", 100.0, 1))
    accepted(engine, balance("h", "USDT", 60.0, 1))
    accepted(engine, position("h", "X", 5.0, 100.0, 2, position_side="long"))
    accepted(engine, position("h", "X", -2.0, 100.0, 2, position_side="short"))
    exposure = exposure_of(engine)
    (long_view, short_view) = engine.account_view(engine.tracked_accounts()[0]).positions
    assert long_view.liquidation_price is not None
    assert liquidation_prices(exposure, engine.instruments).tolist() == pytest.approx(
        [long_view.liquidation_price, short_view.liquidation_price], rel=1e-12
    )
    # Net 3 long with 60: equity 60 + 3 (P - 100) = 0.01 * 7 P  ->  P = 240 / 2.93 = 81.91
    assert long_view.liquidation_price == pytest.approx(240 / 2.93, rel=1e-12)
    cells = liquidation_map(exposure, engine.instruments)["X"]
    band = int(np.floor((240 / 2.93 / 100 - 1) * 100)) + 10  # -19%: outside the map
    assert band < 0
    assert cells.sum() == 0.0


def test_liquidation_map_bands() -> None:
    engine = make_engine(make_instrument("X", tiers=[{"mmr": 0.01}]))
    accepted(engine, mark("X", 100.0, 1))
    accepted(engine, position("i", "X", 10.0, 100.0, 2, mode="isolated", margin=55.0))
    accepted(engine, position("j", "X", -4.0, 100.0, 2, mode="isolated", margin=8.0))
    # i: 55 + 10 (P - 100) = 0.1 P -> P = 945 / 9.9 = 95.45 (-4.5%: band [-0.05, -0.04))
    # j: 8 - 4 (P - 100) = 0.04 P -> P = 408 / 4.04 = 100.99 (+0.99%: band [0, 0.01))
    cells = liquidation_map(exposure_of(engine), engine.instruments)["X"]
    expected = np.zeros((20, 2))
    expected[10 - 5, 0] = 1_000.0
    expected[10 + 0, 1] = 400.0
    assert cells.tolist() == expected.tolist()


def test_no_mark_no_map() -> None:
    engine = make_engine(make_instrument("X", tiers=[{"mmr": 0.01}]))
    accepted(engine, position("i", "X", 10.0, 100.0, 2, mode="isolated", margin=55.0))
    assert liquidation_map(exposure_of(engine), engine.instruments) == {}


def cost(
    bids: list[list[float]],
    asks: list[list[float]],
    *,
    inverse: bool = False,
    mark: float = 100.0,
    m: float = 1.0,
    sold: float = 0.0,
    bought: float = 0.0,
) -> float:
    """The cost of closing `sold` long and `bought` short contracts of cs 1 at multiplier m."""
    book = book_of(
        tuple((price, size) for price, size in bids), tuple((price, size) for price, size in asks)
    )
    result = close_cost(
        book,
        inverse=inverse,
        contract_size=1.0,
        mark=mark,
        multiplier=np.array([m]),
        closing=np.array([[sold], [bought]]),
    )
    return float(result[:, 0].sum())  # both sides


def test_slippage_walks_each_side_with_the_gross_size() -> None:
    bids, asks = [[99.0, 1.0], [98.0, 1.0]], [[101.0, 2.0]]
    assert cost(bids, asks, sold=1.5) == pytest.approx(1.0 + 0.5 * 2.0)
    assert cost(bids, asks, sold=1.5, m=0.5) == pytest.approx(0.5 * 2.0)
    assert cost(bids, asks, sold=1.0, bought=1.0) == pytest.approx(2.0)  # not netted
    # Buying 4 of a side of 2: 2 at 101; the side's average impact is (101 - 100) / 2 per
    # contract, so 2 more go from 101 to 102 (mean 101.5).
    assert cost(bids, asks, bought=4.0) == pytest.approx(2 * 1.0 + 2 * 1.5)
    assert cost(bids, [], bought=4.0) == 0.0  # an empty side says nothing
    assert cost([[100.5, 1.0]], asks, sold=1.0) == 0.0  # a bid above the mark: no cost


def test_slippage_of_a_sale_that_empties_the_book_stops_at_the_floor() -> None:
    # Bids 1 @ 50: impact 50 per contract; past the book the price reaches 0.1 (0.1% of 100)
    # after 0.998 contracts, and the last 99.002 fill there.
    sold = 101.0
    value = 50.0 + 0.998 * (50.0 + 0.1) / 2 + 99.002 * 0.1
    assert cost([[50.0, 1.0]], [], sold=sold) == pytest.approx(sold * 100.0 - value)


def test_inverse_slippage_is_in_coin() -> None:
    # Selling 100 contracts of 1 USD into a bid at 80 with the mark at 100: 100 (1/80 - 1/100).
    assert cost([[80.0, 100.0]], [], inverse=True, sold=100.0) == pytest.approx(0.25)
    assert cost([[80.0, 100.0]], [], inverse=True, sold=100.0, m=0.5) == pytest.approx(0.5)
