"""Cover-N (SPEC §8.1) against brute force on random books, and the recommended fund size."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.fund.cover import merge_top_two, recommended_balance, top_two
from risk.fund.projection import aggregate_projection
from risk.fund.report import engine_share
from risk.fund.share import EpochShare
from risk.fund.snapshot import take_share
from tests.risk.builders import accepted
from tests.risk.fund_books import Book, Holding, books

PROPERTY = settings(max_examples=150, deadline=None)
SHOCKS = st.lists(st.floats(-0.99, 10.0).filter(lambda x: x != 0.0), min_size=1, max_size=8)


def brute_cover(book: Book, x: float) -> tuple[float, float]:
    """(cover_1, cover_2) at shock x: each owner's margin-account deficits summed, sorted."""
    owed: dict[str, float] = {}
    for key, (wallet, holdings) in book.margin_accounts().items():
        owner = key.split("/")[0]
        owed[owner] = owed.get(owner, 0.0) + max(0.0, -book.equity_at(wallet, holdings, x))
    largest = [*sorted(owed.values(), reverse=True), 0.0, 0.0]
    return largest[0], largest[0] + largest[1]


@PROPERTY
@given(books(), SHOCKS)
def test_cover_matches_brute_force(book: Book, shocks: list[float]) -> None:
    share = engine_share(book.engine())
    top = top_two(share.exposure, np.array(shocks))["USDT"]
    tolerance = 1e-9 * book.scale()
    for column, x in enumerate(shocks):
        cover_1, cover_2 = brute_cover(book, x)
        assert top[0, column] == pytest.approx(cover_1, abs=tolerance)
        assert top[0, column] + top[1, column] == pytest.approx(cover_2, abs=tolerance)
        assert top[0, column] >= top[1, column] >= 0.0


def split_by_owner(book: Book, first: set[str]) -> tuple[Book, Book]:
    """Two books holding the owners in `first` and the others (every owner in one of them)."""
    parts = []
    for chosen in (True, False):
        wallets = {name: w for name, w in book.wallets.items() if (name in first) == chosen}
        holdings = [h for h in book.holdings if (h.account in first) == chosen]
        parts.append(Book(book.instruments, book.marks, wallets, holdings))
    return parts[0], parts[1]


@PROPERTY
@given(books(), SHOCKS, st.data())
def test_shares_of_disjoint_owners_merge_to_the_whole(
    book: Book, shocks: list[float], data: st.DataObject
) -> None:
    """Two engines' top twos merge to the whole book's, whether merged as totals or as one
    process's concatenated exposure (whose owners are renumbered apart)."""
    owners = sorted(book.wallets)
    first = set(data.draw(st.lists(st.sampled_from(owners), unique=True)))
    engines = [part.engine() for part in split_by_owner(book, first)]
    grid = np.array(shocks)
    whole = top_two(engine_share(book.engine()).exposure, grid).get("USDT", np.zeros((2, 0)))
    merged = merge_top_two([top_two(take_share(e).exposure, grid) for e in engines])
    market = engine_share(engines[0]).market
    joined = EpochShare.of(market, [take_share(e) for e in engines])
    tolerance = 1e-9 * book.scale()
    for candidate in (merged, top_two(joined.exposure, grid)):
        found = candidate.get("USDT", np.zeros((2, len(shocks))))
        np.testing.assert_allclose(found, whole.reshape(found.shape), rtol=0, atol=tolerance)


def test_one_owner_sums_its_cross_and_isolated_deficits() -> None:
    """At -50%: a's cross long owes 40; b's cross long owes 40 and its isolated long 45, 85 for
    b; c owes 25. Cover-1 is b (85), Cover-2 b and a (125): not the two largest margin
    accounts (45 + 40), and the fund's drawdown is every deficit (150)."""
    tiers = [{"mmr": 0.01}]
    book = Book(
        instruments=[{"symbol": name, "kind": "linear", "settle": "USDT", "tiers": tiers}
                     for name in ("S0", "S1")],
        marks={"S0": 100.0, "S1": 100.0},
        wallets={"a": 10.0, "b": 10.0, "c": 0.0},
        holdings=[Holding("a", "S0", 1.0, 100.0), Holding("b", "S0", 1.0, 100.0),
                  Holding("b", "S1", 1.0, 100.0, isolated_margin=5.0),
                  Holding("c", "S0", 0.5, 100.0)],
    )  # fmt: skip
    engine = book.engine()
    accepted(engine, {"type": "fund", "asset": "USDT", "balance": 100.0, "ts": 2})
    share = engine_share(engine)
    (record,) = aggregate_projection(share.market, [share])["funds"]
    at_half = next(point for point in record["stress"] if point["shock"] == -0.5)
    assert (at_half["cover_1"], at_half["cover_2"]) == pytest.approx((85.0, 125.0), rel=1e-12)
    assert at_half["drawdown"] == pytest.approx(150.0, rel=1e-12)
    at_third = next(point for point in record["stress"] if point["shock"] == -0.3)
    # b owes 20 + 25, a 20, c 15: the largest Cover-2 with |x| <= 0.3 (plausible_shock).
    assert (at_third["cover_1"], at_third["cover_2"]) == pytest.approx((45.0, 65.0), rel=1e-12)
    (shortfall,) = [s["expected_shortfall"] for s in record["monte_carlo"] if s["horizon"] == "24h"]
    assert shortfall < 65.0  # a 24 h draw at 5% daily volatility stays far inside -30%
    assert record["recommended_balance"] == pytest.approx(65.0, rel=1e-12)
    assert record["funding_gap"] == pytest.approx(65.0 - 100.0, rel=1e-12)


def test_recommended_balance_takes_the_larger_of_cover_2_and_expected_shortfall() -> None:
    shocks = (-0.5, -0.3, -0.1, 0.1, 0.3, 0.5)
    cover_2 = np.array([900.0, 300.0, 10.0, 5.0, 200.0, 800.0])
    assert recommended_balance(shocks, cover_2, 0.3, None) == 300.0  # |x| = 0.5 is not plausible
    assert recommended_balance(shocks, cover_2, 0.3, 450.0) == 450.0
    assert recommended_balance(shocks, cover_2, 0.5, 450.0) == 900.0
    assert recommended_balance(shocks, cover_2, 0.05, None) is None  # nothing to size it by
