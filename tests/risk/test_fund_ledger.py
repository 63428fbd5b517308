"""Fund balance and 8-hour drawdown (SPEC §8), and the EWMA covariance of the marks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from risk.fund import EwmaCovariance, FundLedger, FundParameters
from tests.risk.builders import make_engine, send

HOUR = 3_600_000


def fund(asset: str, balance: float, ts: int) -> dict[str, object]:
    return {"type": "fund", "asset": asset, "balance": balance, "ts": ts}


def test_drawdown_against_the_peak_of_the_window() -> None:
    ledger = FundLedger(8 * HOUR)
    for ts, balance in ((0, 100.0), (1 * HOUR, 150.0), (2 * HOUR, 120.0)):
        ledger.record("USDT", ts, balance)
    assert ledger.balance("USDT") == 120.0
    assert ledger.drawdown("USDT", 2 * HOUR) == pytest.approx(-0.2)
    # 1 ms before 10 h the window opens while 150 is still in force: it counts.
    assert ledger.drawdown("USDT", 10 * HOUR - 1) == pytest.approx(-0.2)
    # From 10 h the window opens when 120 is already in force: no drawdown left.
    assert ledger.drawdown("USDT", 10 * HOUR) == 0.0
    assert ledger.balance("missing") is None
    assert ledger.drawdown("missing", 0) is None


def test_a_balance_above_the_peak_is_no_drawdown_and_an_empty_peak_has_no_ratio() -> None:
    ledger = FundLedger(8 * HOUR)
    ledger.record("BTC", 0, 0.0)
    assert ledger.drawdown("BTC", 0) is None
    ledger.record("BTC", 1, 5.0)
    assert ledger.drawdown("BTC", 1) == 0.0


def test_the_engine_keeps_the_history_and_ignores_stale_fund_events() -> None:
    engine = make_engine()
    assert send(engine, fund("USDT", 1_000.0, 10 * HOUR)).status == "accepted"
    assert send(engine, fund("USDT", 900.0, 9 * HOUR)).status == "stale"
    assert send(engine, fund("USDT", 700.0, 11 * HOUR)).status == "accepted"
    assert engine.fund_ledger.balance("USDT") == 700.0
    assert engine.fund_ledger.drawdown("USDT", engine.replay_time) == pytest.approx(-0.3)


def test_ewma_covariance_on_the_bar_clock() -> None:
    decay, prior = 0.9, 1e-4
    estimator = EwmaCovariance(60_000, decay, prior)
    estimator.observe("A", 100.0, 0)
    estimator.observe("B", 50.0, 1_000)
    estimator.observe("A", 110.0, 30_000)  # same bar: only the last price counts
    estimator.observe("B", 45.0, 59_999)
    estimator.observe("A", 121.0, 60_000)  # closes bar 0
    a, b = math.log(110 / 100), math.log(45 / 50)
    expected = decay * np.diag([prior, prior]) + (1 - decay) * np.outer([a, b], [a, b])
    assert estimator.matrix(["A", "B"]) == pytest.approx(expected, rel=1e-12)
    # Three bars pass at once: one observation of three bars' variance, three bars of decay.
    estimator.observe("A", 121.0, 4 * 60_000)
    a = math.log(121 / 110)
    weight = decay**3
    after = weight * expected + (1 - weight) / 3 * np.outer([a, 0.0], [a, 0.0])
    assert estimator.matrix(["B", "A", "C"]) == pytest.approx(
        np.array(
            [
                [after[1, 1], after[1, 0], 0.0],
                [after[0, 1], after[0, 0], 0.0],
                [0.0, 0.0, prior],  # never seen: the prior, uncorrelated
            ]
        ),
        rel=1e-12,
    )
    assert estimator.volatility("A", 24 * HOUR) == pytest.approx(
        math.sqrt(after[0, 0] * 1440), rel=1e-12
    )


def test_the_engine_feeds_accepted_marks_only() -> None:
    engine = make_engine()
    parameters = FundParameters()
    for ts, price in ((0, 100.0), (60_000, 110.0), (30_000, 1.0), (120_000, 110.0)):
        send(engine, {"type": "mark", "symbol": "X", "price": price, "ts": ts})
    weight = parameters.decay
    r = math.log(1.1)
    first = weight * parameters.prior_bar_variance  # bar 0 ends at 100: no move
    second = weight * first + (1 - weight) * r * r  # bar 1 ends at 110 (not at the stale 1.0)
    assert engine.volatility.matrix(["X"])[0, 0] == pytest.approx(second, rel=1e-12)
