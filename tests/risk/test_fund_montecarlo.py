"""Monte Carlo projection (SPEC §8, risk/fund/montecarlo.py): its invariants and one closed form."""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from risk.fund import FundParameters
from risk.fund.report import engine_share, fund_sections
from tests.risk.builders import accepted
from tests.risk.fund_books import Book, Holding, books, brute_drawdown

HOUR = 3_600_000


def monte_carlo(book: Book, balance: float, **parameters: Any) -> list[dict[str, Any]]:
    engine = book.engine(fund=FundParameters(**parameters))
    accepted(engine, {"type": "fund", "asset": "USDT", "balance": balance, "ts": 1})
    (fund,) = fund_sections(engine)["funds"]
    result: list[dict[str, Any]] = fund["monte_carlo"]
    return result


def long_book(wallet: float) -> Book:
    instrument = {"symbol": "X", "kind": "linear", "settle": "USDT"}
    return Book([instrument], {"X": 100.0}, {"a": wallet}, [Holding("a", "X", 10.0, 100.0)])


def test_zero_volatility_gives_exactly_the_deterministic_drawdown() -> None:
    # Owes 200 now (equity = -200); with no volatility every path stays at today's marks.
    book = long_book(-200.0)
    for balance, probability in ((150.0, 1.0), (250.0, 0.0)):
        for stats in monte_carlo(book, balance, prior_daily_volatility=0.0, paths=500):
            assert stats["expected_drawdown"] == 200.0
            assert stats["var"] == 200.0
            assert stats["expected_shortfall"] == 200.0
            assert stats["depletion_probability"] == probability
    assert brute_drawdown(book, 1e-12)[0] == pytest.approx(200.0)


def test_depletion_probability_matches_the_lognormal_closed_form() -> None:
    # 10 X long at 100 with 500: the fund (balance 100) is gone when 10 P - 1,000 + 500 < -100,
    # i.e. P < 40, i.e. ln(P / 100) < ln 0.4. With sigma = 0.3 per day over 24 h:
    # p = Phi(ln 0.4 / 0.3).
    sigma, paths = 0.3, 20_000
    (one_hour, one_day) = monte_carlo(
        long_book(500.0), 100.0, prior_daily_volatility=sigma, paths=paths
    )
    expected = NormalDist().cdf(math.log(0.4) / sigma)
    error = math.sqrt(expected * (1 - expected) / paths)
    assert one_day["depletion_probability"] == pytest.approx(expected, abs=4 * error)
    assert one_hour["depletion_probability"] == 0.0  # ln 0.4 is 15 sigma of one hour
    assert one_day["var"] <= one_day["expected_shortfall"]


def test_the_same_seed_gives_the_same_paths_whatever_the_instrument_order() -> None:
    instruments: list[dict[str, Any]] = [
        {"symbol": "X", "kind": "linear", "settle": "USDT"},
        {"symbol": "Y", "kind": "inverse", "settle": "USDT", "contract_size": 10.0},
    ]
    holdings = [Holding("a", "X", 5.0, 100.0), Holding("b", "Y", -300.0, 40.0)]
    marks = {"X": 100.0, "Y": 40.0}
    forward = Book(instruments, marks, {"a": 100.0, "b": 5.0}, holdings)
    backward = Book(instruments[::-1], dict(reversed(marks.items())), forward.wallets, holdings)
    first = monte_carlo(forward, 30.0, paths=2_000)
    assert first == monte_carlo(backward, 30.0, paths=2_000)
    assert first != monte_carlo(forward, 30.0, paths=2_000, seed=7)
    assert first[1]["expected_drawdown"] > 0.0


@settings(max_examples=40, deadline=None)
@given(
    books(single_symbol=True, max_holdings=8),
    st.floats(0.0, 1e5),
    st.floats(0.01, 0.5),
    st.integers(0, 2**32 - 1),
)
def test_risk_never_falls_as_the_horizon_grows(
    book: Book, balance: float, volatility: float, seed: int
) -> None:
    # Single-symbol accounts that owe nothing now: a path's drawdown grows with its scale, and
    # a longer horizon is the same path scaled up (risk/fund/montecarlo.py).
    assume(min(brute_drawdown(book, 0.0)[1]) >= 0.0)
    horizons = (("1h", HOUR), ("24h", 24 * HOUR), ("72h", 72 * HOUR))
    stats = monte_carlo(
        book,
        balance,
        prior_daily_volatility=volatility,
        paths=400,
        seed=seed,
        horizons=horizons,
    )
    for shorter, longer in itertools.pairwise(stats):
        assert longer["depletion_probability"] >= shorter["depletion_probability"]
        assert longer["expected_drawdown"] >= shorter["expected_drawdown"] * (1 - 1e-12)
    for horizon in stats:
        assert horizon["var"] <= horizon["expected_shortfall"]
        assert horizon["expected_drawdown"] <= horizon["expected_shortfall"] * (1 + 1e-12)


def test_correlated_marks_move_together() -> None:
    # Two symbols whose marks moved identically for a day: their paths are (nearly) the same.
    instruments = [{"symbol": name, "kind": "linear", "settle": "USDT"} for name in ("X", "Y")]
    holdings = [Holding("a", "X", 1.0, 100.0), Holding("b", "Y", -1.0, 100.0)]
    book = Book(instruments, {"X": 100.0, "Y": 100.0}, {"a": 50.0, "b": 50.0}, holdings)
    engine = book.engine(fund=FundParameters(paths=1_000, decay=0.9))
    rng = np.random.default_rng(1)
    price = 100.0
    for minute in range(1, 300):
        price *= math.exp(rng.normal(0.0, 0.01))
        for symbol in ("X", "Y"):
            accepted(
                engine, {"type": "mark", "symbol": symbol, "price": price, "ts": minute * 60_000}
            )
    covariance = engine.volatility.matrix(["X", "Y"])
    correlation = covariance[0, 1] / math.sqrt(covariance[0, 0] * covariance[1, 1])
    assert correlation == pytest.approx(1.0, abs=1e-9)
    paths = engine_share(engine).paths()
    for multipliers in paths.multipliers:
        assert multipliers[0] == pytest.approx(multipliers[1], rel=1e-4)
        assert np.std(np.log(multipliers[0])) > 0.01
