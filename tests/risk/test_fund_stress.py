"""Stress grid and depletion shocks (SPEC §8) against brute force on random books."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.risk.builders import accepted
from tests.risk.fund_books import (
    Book,
    Holding,
    Shocked,
    books,
    brute_drawdown,
    first_lattice_shock,
)

PROPERTY = settings(max_examples=150, deadline=None)
SHOCKS = st.lists(st.floats(-0.99, 10.0).filter(lambda x: x != 0.0), min_size=1, max_size=8)


def stress_model(book: Book) -> Shocked:
    return Shocked.of(book.engine())


@PROPERTY
@given(books(), SHOCKS)
def test_drawdown_matches_brute_force(book: Book, shocks: list[float]) -> None:
    drawdown, negative = stress_model(book).drawdown(np.array(shocks))
    tolerance = 1e-9 * book.scale()
    for x, loss, count in zip(shocks, drawdown.tolist(), negative.tolist(), strict=True):
        expected, equities = brute_drawdown(book, x)
        assert loss == pytest.approx(expected, abs=tolerance)
        # Accounts within rounding of zero equity may count either way; the rest may not.
        surely = sum(equity < -tolerance for equity in equities)
        maybe = sum(equity < tolerance for equity in equities)
        assert surely <= count <= maybe


def bisection(book: Book, balance: float, direction: int) -> float | None:
    return first_lattice_shock(lambda x: brute_drawdown(book, x)[0] >= balance, direction)


@PROPERTY
@given(books(single_symbol=True), st.floats(0.0, 5e5))
def test_depletion_shocks_match_bisection_on_monotone_books(book: Book, balance: float) -> None:
    # Single-symbol accounts that owe nothing now: each deficit can only grow with |x|, so
    # drawdown(x) is monotone and bisection finds the first crossing. (An account already in
    # deficit recovers in one direction: the search handles it, bisection would not.)
    assume(min(brute_drawdown(book, 0.0)[1]) >= 0.0)
    model = stress_model(book)
    for direction in (-1, 1):
        found = model.depletion_shock(balance, direction)
        expected = bisection(book, balance, direction)
        if found != expected:
            # Only a balance within rounding of the drawdown at the lattice point may differ.
            assert found is not None
            assert expected is not None
            assert abs(found - expected) == pytest.approx(1e-4)
            edge = brute_drawdown(book, min(found, expected, key=abs))[0]
            assert edge == pytest.approx(balance, rel=1e-9, abs=1e-9 * book.scale())


def linear_book(wallet: float, size: float, entry: float, price: float) -> Book:
    instrument = {"symbol": "BTC", "kind": "linear", "settle": "USDT", "beta": 1.0}
    holding = Holding("a", "BTC", size, entry)
    return Book([instrument], {"BTC": price}, {"a": wallet}, [holding])


def test_worked_example_long_at_10x() -> None:
    # 1 BTC long at 60,000 with 6,000 wallet: equity(x) = 6,000 + 60,000 x.
    model = stress_model(linear_book(6_000.0, 1.0, 60_000.0, 60_000.0))
    drawdown, negative = model.drawdown(np.array([-0.5, -0.1, -0.05, 0.5]))
    assert drawdown.tolist() == pytest.approx([24_000.0, 0.0, 0.0, 0.0], abs=1e-9)
    assert negative.tolist() == [1, 0, 0, 0]  # at -0.1 equity is exactly 0: not negative
    # drawdown(x) >= 1,200 from x = -0.12: "the fund survives an 11.99% gap down".
    assert model.depletion_shock(1_200.0, -1) == -0.12
    assert model.depletion_shock(1_200.0, +1) is None
    assert model.depletion_shock(None, -1) is None
    assert model.depletion_shock(0.0, -1) == -0.0001  # an empty fund is gone at any move


def test_an_account_in_deficit_now_counts_at_the_smallest_move() -> None:
    # Short 1 at 3.75, mark 5, no wallet: equity(x) = -1.25 - 5 x. It owes 1.25 now; a fall
    # cures it, a rise deepens it. A fund of 1 is gone at the first step either way.
    model = stress_model(linear_book(0.0, -1.0, 3.75, 5.0))
    assert model.depletion_shock(1.0, -1) == -0.0001
    assert model.depletion_shock(1.0, +1) == 0.0001
    assert model.depletion_shock(1.3, -1) is None
    assert model.depletion_shock(1.3123, +1) == 0.0125  # 1.25 + 5 x >= 1.3123: x >= 0.01246


def test_a_hedged_account_across_a_floor_kink() -> None:
    # Cross: 1 X long at 100 (beta 2), 3 Y short at 50 (beta 1), wallet 10. Down by t:
    #   before X's floor (t < 0.4995): equity = 10 - 200 t + 150 t = 10 - 50 t,
    #   after it X is worth 0.1:       equity = 60 + 0.1 - 150 (1 - t) = -89.9 + 150 t,
    # so the account owes on (0.2, 0.59933) only, the most (14.975) at the kink.
    instruments = [
        {"symbol": "X", "kind": "linear", "settle": "USDT", "beta": 2.0},
        {"symbol": "Y", "kind": "linear", "settle": "USDT", "beta": 1.0},
    ]
    holdings = [Holding("a", "X", 1.0, 100.0), Holding("a", "Y", -3.0, 50.0)]
    book = Book(instruments, {"X": 100.0, "Y": 50.0}, {"a": 10.0}, holdings)
    model = stress_model(book)
    drawdown, negative = model.drawdown(np.array([-0.1, -0.3, -0.5, -0.7, 0.5]))
    assert drawdown.tolist() == pytest.approx([0.0, 5.0, 14.9, 0.0, 0.0], abs=1e-9)
    assert negative.tolist() == [0, 1, 1, 0, 0]
    assert model.depletion_shock(14.0, -1) == -0.48
    assert model.depletion_shock(15.0, -1) is None


def test_a_deficit_far_beyond_the_grid_changes_nothing_inside_it() -> None:
    # 1 X long (beta 1) and 1 Y short (beta 0.9), both at 100, wallet 100: equity is
    # 100 - 10 t down, 100 - 10 t up as well (100 t - 110 t): it owes nothing until |x| = 10.
    instruments = [
        {"symbol": "X", "kind": "linear", "settle": "USDT", "beta": 1.0},
        {"symbol": "Y", "kind": "linear", "settle": "USDT", "beta": 0.9},
    ]
    holdings = [Holding("a", "X", 1.0, 100.0), Holding("a", "Y", -1.0, 100.0)]
    model = stress_model(Book(instruments, {"X": 100.0, "Y": 100.0}, {"a": 100.0}, holdings))
    drawdown, negative = model.drawdown(np.array([-0.99, -0.5, 0.5, 9.9, 10.0]))
    assert drawdown.tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0, 0.0], abs=1e-9)
    assert negative.tolist() == [0, 0, 0, 0, 0]


def test_the_mark_floor_caps_the_move() -> None:
    # beta 4 at x = -0.5 would send the mark negative: it stops at 0.1% of itself.
    book = linear_book(0.0, 1.0, 100.0, 100.0)
    book.instruments[0]["beta"] = 4.0
    drawdown, _ = stress_model(book).drawdown(np.array([-0.5, -0.9]))
    assert drawdown.tolist() == pytest.approx([99.9, 99.9])


def test_inverse_short_loses_without_bound_as_the_price_rises() -> None:
    # 1,000 contracts of 100 USD short at 50,000, 0.5 BTC wallet:
    # equity(x) = 0.5 - 100,000 * (1/50,000 - 1/(50,000 (1 + x))) = 0.5 - 2 x / (1 + x).
    instrument = {
        "symbol": "BTCUSD",
        "kind": "inverse",
        "settle": "USDT",
        "contract_size": 100.0,
    }
    book = Book([instrument], {"BTCUSD": 50_000.0}, {"a": 0.5}, [])
    book.holdings.append(Holding("a", "BTCUSD", -1_000.0, 50_000.0))
    model = stress_model(book)
    drawdown, _ = model.drawdown(np.array([0.5, 1.0, 9.0]))
    assert drawdown.tolist() == pytest.approx([2 * 0.5 / 1.5 - 0.5, 0.5, 1.3], rel=1e-12)
    # 2x / (1 + x) - 0.5 >= 1 from x = 3 on.
    assert model.depletion_shock(1.0, +1) == 3.0


def test_depth_slippage_is_added_to_the_deficits() -> None:
    book = linear_book(6_000.0, 2.0, 60_000.0, 60_000.0)
    engine = book.engine()
    accepted(
        engine,
        {
            "type": "depth",
            "symbol": "BTC",
            "bids": [[59_990.0, 1.0], [59_900.0, 0.5]],
            "asks": [[60_010.0, 1.0]],
            "ts": 2,
        },
    )
    drawdown, _ = Shocked.of(engine).drawdown(np.array([-0.5]))
    # Equity -54,000. Selling 2 (unshocked prices, then all times m = 0.5): 1 at 59,990 costs
    # 10 and 0.5 at 59,900 costs 50; the last 0.5 goes past the book, whose average impact is
    # (60,000 - 59,900) / 1.5 per contract, so the price runs from 59,900 to 59,866.67: mean
    # 59,883.33, cost 0.5 * 116.67.
    slippage = 0.5 * (10.0 + 0.5 * 100.0 + 0.5 * (60_000.0 - (59_900.0 - 100.0 / 1.5 / 4)))
    assert drawdown[0] == pytest.approx(54_000.0 + slippage, rel=1e-12)
