"""Cascade stress (SPEC §8.2, docs/FUND.md): a worked example and the required properties.

The fast path against the brute-force reference (tests/fund_reference.py, round by round,
account by account) is tests/risk/test_reference_agreement.py, on random streams with depth.
"""

from __future__ import annotations

from dataclasses import replace
from typing import cast

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.fund.cascade import CascadePoint, asset_rows, cascade_stress
from risk.fund.exposure import FloatArray
from risk.fund.projection import aggregate_projection, depletion_shock, drawdown
from risk.fund.report import engine_share
from risk.fund.share import EpochShare
from risk.fund.slippage import book_of
from tests.risk.fund_books import Book, Holding, books

PROPERTY = settings(max_examples=100, deadline=None)
GRID = np.array([-0.5, -0.3, -0.2, -0.1, -0.05, 0.05, 0.1, 0.2, 0.5])
Levels = tuple[tuple[float, float], ...]


def with_books(share: EpochShare, depth: dict[int, tuple[Levels, Levels]]) -> EpochShare:
    """The share with these depth snapshots (symbol index -> bids, asks) in its market."""
    books_by_symbol = {symbol: book_of(bids, asks) for symbol, (bids, asks) in depth.items()}
    return EpochShare(replace(share.market, books=books_by_symbol), share.exposure, share.books)


def one_round(share: EpochShare, shocks: np.ndarray) -> np.ndarray:
    return drawdown(share.market, "USDT", shocks, share.stress("USDT", shocks))


def cascades(share: EpochShare, shocks: np.ndarray) -> list[CascadePoint]:
    return cascade_stress(share.market, "USDT", shocks, share.cascade)


def example() -> EpochShare:
    """Four accounts long 1 S at 100 (mmr 1%), wallets 12, 10.5, 11.5 and 5; bids 99 x 1 and
    98 x 1 (the extension past them: 1 per contract), one ask."""
    instrument = {"symbol": "S", "kind": "linear", "settle": "USDT", "beta": 1.0,
                  "tiers": [{"mmr": 0.01}]}  # fmt: skip
    wallets = {"a": 12.0, "b": 10.5, "c": 11.5, "d": 5.0}
    holdings = [Holding(name, "S", 1.0, 100.0) for name in wallets]
    share = engine_share(Book([instrument], {"S": 100.0}, wallets, holdings).engine())
    return with_books(share, {0: (((99.0, 1.0), (98.0, 1.0)), ((101.0, 1.0),))})


def test_worked_example_cascade_at_minus_ten_percent() -> None:
    # At 90: d owes 5 (one round: 5 + 90 - 89.1 of slippage = 5.9); b, equity 0.5 under its
    # maintenance 0.9, is liquidated with it. Round 1 sells 2 into the bids shocked by 0.9:
    # the last level filled is 98 * 0.9 = 88.2. There a (0.2 <= 0.882) and c (-0.3) go.
    # Round 2 sells 4: 2 past the book at 1 per contract, 96 * 0.9 = 86.4. Round 3 adds no
    # one. At 86.4: 8.6 + 3.1 + 2.1 + 1.6 = 15.4, 2.61 times the one-round figure.
    share = example()
    shocks = np.array([-0.1])
    assert one_round(share, shocks)[0] == pytest.approx(5.9, rel=1e-12)
    (point,) = cascades(share, shocks)
    assert point.drawdown == pytest.approx(15.4, rel=1e-12)
    assert (point.rounds, point.liquidated) == (2, 4)
    assert point.moves == {"S": pytest.approx(0.864, rel=1e-12)}


def test_worked_example_in_the_projection_record() -> None:
    share = example()
    market = replace(share.market, parameters=replace(share.market.parameters, shocks=(-0.1,)))
    projection = aggregate_projection(market, [EpochShare(market, share.exposure, share.books)])
    (entry,) = projection["funds"][0]["stress"]
    assert entry["cascade"] == {
        "drawdown": pytest.approx(15.4, rel=1e-12),
        "rounds": 2,
        "liquidated_accounts": 4,
        "mark_moves": {"S": pytest.approx(0.864, rel=1e-12)},
        "multiplier": pytest.approx(15.4 / 5.9, rel=1e-12),
    }


@st.composite
def depths(draw: st.DrawFn, book: Book) -> dict[str, tuple[Levels, Levels]]:
    """A depth snapshot for some of the book's symbols: 1-5 levels a side around the mark."""
    found = {}
    for symbol in sorted(book.marks):
        if not draw(st.booleans()):
            continue
        mark = book.marks[symbol]
        sides = []
        for sign in (-1.0, 1.0):
            gaps = draw(st.lists(st.floats(0.0005, 0.05), min_size=1, max_size=5))
            sizes = draw(st.lists(st.floats(0.01, 100.0), min_size=len(gaps), max_size=len(gaps)))
            away = np.cumsum(gaps).tolist()
            levels = zip(away, sizes, strict=True)
            sides.append(tuple((mark * (1.0 + sign * gap), size) for gap, size in levels))
        found[symbol] = (sides[0], sides[1])
    return found


Drawn = tuple[Book, EpochShare, dict[int, tuple[Levels, Levels]]]


@st.composite
def books_with_depth(draw: st.DrawFn) -> Drawn:
    """A random book, its share, and depth for some of its symbols (by engine index)."""
    book = draw(books())
    share = engine_share(book.engine())
    index = {symbol: row for row, symbol in enumerate(share.market.symbols)}
    return book, share, {index[name]: sides for name, sides in draw(depths(book)).items()}


@PROPERTY
@given(books_with_depth())
def test_a_cascade_never_loses_less_than_one_round(drawn: Drawn) -> None:
    book, share, depth = drawn
    deep = with_books(share, depth)
    tolerance = 1e-9 * book.scale()
    for loss, point in zip(one_round(deep, GRID), cascades(deep, GRID), strict=True):
        assert point.drawdown >= loss - tolerance


@PROPERTY
@given(books())
def test_without_depth_a_cascade_is_the_one_round_figure(book: Book) -> None:
    share = engine_share(book.engine())
    tolerance = 1e-9 * book.scale()
    for loss, point in zip(one_round(share, GRID), cascades(share, GRID), strict=True):
        assert point.drawdown == pytest.approx(loss, abs=tolerance)
        assert point.rounds <= 1
        assert point.moves == {}


@PROPERTY
@given(books_with_depth(), st.floats(0.01, 1.0))
def test_thinning_every_level_never_lowers_the_cascade(drawn: Drawn, factor: float) -> None:
    book, share, depth = drawn
    thin = {
        symbol: (thinned(bids, factor), thinned(asks, factor))
        for symbol, (bids, asks) in depth.items()
    }
    tolerance = 1e-9 * book.scale()
    deep = cascades(with_books(share, depth), GRID)
    shallow = cascades(with_books(share, thin), GRID)
    for full, lean in zip(deep, shallow, strict=True):
        assert lean.drawdown >= full.drawdown - tolerance
        assert lean.liquidated >= full.liquidated


def thinned(levels: Levels, factor: float) -> Levels:
    return tuple((price, size * factor) for price, size in levels)


@PROPERTY
@given(
    st.lists(st.floats(0.0001, 10.0), min_size=1, max_size=6),
    st.floats(0.0, 3.0),
    st.sampled_from((-1, 1)),
    st.integers(1, 40),
)
def test_chunked_depletion_search_finds_what_the_whole_search_finds(
    centres: list[float], balance: float, direction: int, chunk: int
) -> None:
    # A drawdown far from monotone in |x| (bumps around `centres`, as cascades can be): taking a
    # step's shocks `chunk` at a time, nearest first, changes the cost, never the answer.
    asked: list[int] = []

    def bumps(shocks: FloatArray) -> FloatArray:
        asked.append(len(shocks))
        size = np.abs(shocks)[:, None]
        heights = 1.0 / (1.0 + 1e3 * (size - np.array(centres)[None, :]) ** 2)
        return cast(FloatArray, heights.sum(axis=1))

    whole = depletion_shock(balance, direction, bumps)
    cost = sum(asked)
    asked.clear()
    assert depletion_shock(balance, direction, bumps, chunk) == whole
    assert sum(asked) <= cost


def brute_round(
    share: EpochShare, multiplier: FloatArray
) -> tuple[list[float], list[int], FloatArray]:
    """(deficit sum, accounts at or past maintenance, their contracts per side and symbol) per
    scenario, account by account and position by position at the side marks, with each
    symbol's tier table."""
    exposure, market = share.exposure, share.market
    rows = {symbol: row for row, symbol in enumerate(asset_rows(market, "USDT"))}
    deficits, counts = [0.0] * multiplier.shape[2], [0] * multiplier.shape[2]
    flows = np.zeros_like(multiplier)
    for scenario in range(multiplier.shape[2]):
        for account in range(exposure.accounts):
            equity, maintenance = float(exposure.wallet[account]), 0.0
            held = np.flatnonzero(exposure.position_account == account).tolist()
            for leg in held:
                symbol, size = int(exposure.position_symbol[leg]), float(exposure.size[leg])
                move = multiplier[0 if size > 0 else 1, rows[symbol], scenario]
                price = float(exposure.price[leg]) * move
                quantity = size * float(exposure.contract_size[symbol])
                if exposure.inverse[symbol]:
                    notional = abs(quantity) / price
                    equity += quantity * (1 / float(exposure.entry[leg]) - 1 / price)
                else:
                    notional = abs(quantity) * price
                    equity += quantity * (price - float(exposure.entry[leg]))
                maintenance += market.tiers[symbol].maintenance(notional)
            if equity <= maintenance:
                counts[scenario] += 1
                deficits[scenario] += max(0.0, -equity)
                for leg in held:
                    size = float(exposure.size[leg])
                    row = rows[int(exposure.position_symbol[leg])]
                    flows[0 if size > 0 else 1, row, scenario] += abs(size)
    return deficits, counts, flows


@PROPERTY
@given(books(), st.data())
def test_a_round_matches_brute_force_at_any_side_marks(book: Book, data: st.DataObject) -> None:
    # The one-position ladders (binary searches) and the direct pass of the others, against
    # every account valued at random side marks (the tiers of `books`: 1% to 1e5, then 5%).
    share = engine_share(book.engine())
    rows = len(asset_rows(share.market, "USDT"))
    moves = st.floats(0.05, 5.0)
    multiplier = np.array(
        data.draw(st.lists(moves, min_size=2 * rows * 3, max_size=2 * rows * 3))
    ).reshape(2, rows, 3)
    found = share.cascade("USDT", multiplier)
    deficits, counts, flows = brute_round(share, multiplier)
    tolerance = 1e-9 * book.scale() * 5.0
    assert found.deficit.tolist() == pytest.approx(deficits, abs=tolerance)
    assert found.liquidated.tolist() == counts
    np.testing.assert_allclose(found.flows, flows, rtol=1e-12, atol=1e-9)
