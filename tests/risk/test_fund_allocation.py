"""Loss allocation (SPEC §8.3, docs/FUND.md "Loss allocation"): a worked example, the required
properties, and shares split across processes.

The fast path against the scalar reference (tests/allocation_reference.py) is
tests/risk/test_reference_agreement.py, on random streams with depth.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.fund.projection import aggregate_projection
from risk.fund.report import engine_share
from risk.fund.share import EpochShare
from tests.risk.fund_books import Book, Holding, books

PROPERTY = settings(max_examples=100, deadline=None)
GRID = (-0.5, -0.3, -0.2, -0.1, 0.1, 0.2, 0.5)
LINEAR = {"symbol": "S", "kind": "linear", "settle": "USDT", "beta": 1.0, "tiers": [{"mmr": 0.01}]}


def stress_entries(
    shares: list[EpochShare], balance: float | None, grid: tuple[float, ...] = GRID
) -> list[dict[str, Any]]:
    """The USDT stress entries of the shares' accounts together, with this fund balance."""
    market = shares[0].market
    balances = {} if balance is None else {"USDT": balance}
    market = replace(market, balances=balances, parameters=replace(market.parameters, shocks=grid))
    joined = [EpochShare(market, share.exposure, share.books) for share in shares]
    (fund,) = aggregate_projection(market, joined)["funds"]
    entries: list[dict[str, Any]] = fund["stress"]
    return entries


def example() -> Book:
    """Longs a (1 at 100, wallet 5) and b (2 at 100, wallet 10); shorts c (1 at 100, wallet 50)
    and d (2 at 100, wallet 50)."""
    wallets = {"a": 5.0, "b": 10.0, "c": 50.0, "d": 50.0}
    sizes = {"a": 1.0, "b": 2.0, "c": -1.0, "d": -2.0}
    holdings = [Holding(name, "S", size, 100.0) for name, size in sizes.items()]
    return Book([LINEAR], {"S": 100.0}, wallets, holdings)


def test_worked_example_at_minus_twenty_percent() -> None:
    # At 80 a owes 15 and b 30: D = 45, all on 3 long contracts. With a fund of 4 the
    # shortfall is 41, so 3 * 41 / 45 = 2.7333 short contracts are deleveraged, each
    # covering 45 / 3 = 15. Scores: d (40 / 200) * (160 / 90) = 0.356 before c
    # (20 / 100) * (80 / 70) = 0.229: d's 2 contracts, then 0.7333 of c's. The profit of c
    # and d is 60, so the haircut is 41 / 60.
    (entry,) = stress_entries([engine_share(example().engine())], 4.0, (-0.2,))
    assert entry["drawdown"] == pytest.approx(45.0, rel=1e-12)
    assert entry["allocation"] == {
        "adl": {
            "S": {
                "short": {
                    "positions": 2,
                    "contracts": pytest.approx(3 * 41 / 45, rel=1e-12),
                    "notional": pytest.approx(3 * 41 / 45 * 80, rel=1e-12),
                    "covered": pytest.approx(41.0, rel=1e-12),
                }
            }
        },
        "socialized": pytest.approx(41 / 60, rel=1e-12),
    }


def test_no_allocation_without_a_shortfall_or_a_balance() -> None:
    share = engine_share(example().engine())
    (covered,) = stress_entries([share], 45.0, (-0.2,))
    assert covered["allocation"] is None  # the fund covers the drawdown exactly
    (unknown,) = stress_entries([share], None, (-0.2,))
    assert unknown["allocation"] is None
    (spent,) = stress_entries([share], -10.0, (-0.2,))  # a negative balance covers nothing
    assert spent["allocation"]["adl"]["S"]["short"]["covered"] == pytest.approx(45.0)
    assert spent["allocation"]["socialized"] == pytest.approx(45 / 60)


def test_a_queue_that_runs_out_covers_what_it_can() -> None:
    book = example()
    book.holdings = [*book.holdings[:2], Holding("c", "S", -0.5, 100.0)]  # 0.5 short only
    (entry,) = stress_entries([engine_share(book.engine())], 0.0, (-0.2,))
    cell = entry["allocation"]["adl"]["S"]["short"]
    assert (cell["positions"], cell["contracts"]) == (1, pytest.approx(0.5))
    assert cell["covered"] == pytest.approx(0.5 * 15.0)
    assert entry["allocation"]["socialized"] == 1.0  # 45 owed, 10 of profit


def brute_queue(book: Book, symbol: str, side: str, x: float) -> list[tuple[float, float, float]]:
    """(score, contracts, notional) of the (symbol, side) queue at shock x, best first."""
    entries = []
    for wallet, holdings in book.margin_accounts().values():
        equity = book.equity_at(wallet, holdings, x)
        for holding in holdings:
            item = book.instrument(holding.symbol)
            if holding.symbol != symbol or (holding.size > 0) != (side == "long"):
                continue
            factor = max(1.0 + item["beta"] * x, 0.001)
            pnl = book.pnl(holding, factor)
            if pnl <= 0.0 or equity <= 0.0:
                continue
            quantity = abs(holding.size) * item["contract_size"]
            price = book.marks[symbol] * factor
            linear = item["kind"] == "linear"
            notional = quantity * price if linear else quantity / price
            entry_notional = quantity * holding.entry if linear else quantity / holding.entry
            score = (pnl / entry_notional) * (notional / equity)
            entries.append((score, abs(holding.size), notional))
    return sorted(entries, key=lambda entry: (-entry[0], -entry[1], -entry[2]))


@PROPERTY
@given(books(max_holdings=40), st.floats(-1e3, 1e3))
def test_allocation_properties(book: Book, balance: float) -> None:
    """Never more than the shortfall; the ADL path is the head of the queue, in its order;
    the haircut is in [0, 1] and takes no more than the shortfall."""
    scale = book.scale()
    for x, entry in zip(GRID, stress_entries([engine_share(book.engine())], balance), strict=True):
        shortfall = entry["drawdown"] - max(balance, 0.0)
        allocation = entry["allocation"]
        if shortfall <= 0.0:
            assert allocation is None
            continue
        assert allocation is not None
        covered = sum(cell["covered"] for s in allocation["adl"].values() for cell in s.values())
        assert covered <= shortfall + 1e-9 * scale
        assert 0.0 <= allocation["socialized"] <= 1.0
        if shortfall <= 1e-9 * scale:  # owed to rounding: who is in profit is rounding too
            continue
        for symbol, sides in allocation["adl"].items():
            for side, cell in sides.items():
                assert_head_of_queue(brute_queue(book, symbol, side, x), cell)


def assert_head_of_queue(queue: list[tuple[float, float, float]], cell: dict[str, Any]) -> None:
    """`cell` took the first `positions` entries of `queue`, the last of them partly."""
    taken, contracts = cell["positions"], cell["contracts"]
    sizes = [size for _, size, _ in queue]
    assert taken <= len(queue)
    assert contracts <= sum(sizes[:taken]) * (1 + 1e-9) + 1e-12
    assert contracts >= sum(sizes[: max(taken - 1, 0)]) * (1 - 1e-9)
    if taken:
        full = sum(notional for _, _, notional in queue[: taken - 1])
        last_size, last_notional = queue[taken - 1][1], queue[taken - 1][2]
        rest = contracts - sum(sizes[: taken - 1])
        expected = full + last_notional * rest / last_size
        assert cell["notional"] == pytest.approx(expected, rel=1e-7, abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(books(max_holdings=40), st.floats(-1e3, 1e3), st.integers(0, 2**16))
def test_shares_split_by_account_give_the_whole_books_allocation(
    book: Book, balance: float, seed: int
) -> None:
    """Weights add up and queue prefixes join: two processes answer as one."""
    accounts = sorted(book.wallets)
    chosen = set(np.random.default_rng(seed).permutation(accounts)[: len(accounts) // 2])
    parts = [
        Book(
            book.instruments,
            book.marks,
            {name: wallet for name, wallet in book.wallets.items() if (name in chosen) == side},
            [holding for holding in book.holdings if (holding.account in chosen) == side],
        )
        for side in (True, False)
    ]
    if not all(part.holdings for part in parts):
        return
    whole = stress_entries([engine_share(book.engine())], balance)
    split = stress_entries([engine_share(part.engine()) for part in parts], balance)
    for mine, theirs in zip(split, whole, strict=True):
        assert (mine["allocation"] is None) == (theirs["allocation"] is None)
        if theirs["allocation"] is not None:
            assert mine["allocation"] == approximately(theirs["allocation"], book.scale())


def approximately(value: Any, scale: float) -> Any:
    """`value` with its floats compared to 1e-9 of themselves or of `scale`."""
    if isinstance(value, dict):
        return {key: approximately(item, scale) for key, item in value.items()}
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9, abs=1e-12 * scale)
    return value
