"""Fund projections of a book split by account partition add up to the whole book's.

Each partition's engine sees the broadcast lines and its own accounts' lines, as a Kafka
worker's task does; at every epoch they all reach, the shares of the partitions, combined by
`aggregate_projection` (what the workers' aggregator runs), give the projection of one engine
holding every account.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from risk import Engine
from risk.fund.projection import aggregate_projection
from risk.fund.report import engine_share
from risk.fund.share import EpochShare
from streams.config import EngineConfig, parse_config
from streams.kafka.partitioning import line_partition
from streams.settings import Settings
from tests.streamgen import apply_lines, config_text, generate_stream

FUND_TABLE = "\n[fund]\npaths = 400\nprojection_interval_ms = 60000\n"


def shares_at_epochs(engine: Engine, lines: list[str]) -> dict[int, EpochShare]:
    shares: dict[int, EpochShare] = {}
    engine.watch_epochs(lambda at: shares.__setitem__(at, engine_share(engine, at)))
    apply_lines(engine, lines)
    return shares


def split(lines: list[str], partitions: int) -> list[list[str]]:
    owners = [line_partition(line.encode(), Settings(partitions=partitions)) for line in lines]
    return [
        [line for line, owner in zip(lines, owners, strict=True) if owner in (None, partition)]
        for partition in range(partitions)
    ]


def assert_close(mine: Any, theirs: Any, scale: float, where: str = "") -> None:
    if isinstance(theirs, dict):
        assert sorted(mine) == sorted(theirs), where
        for key in theirs:
            assert_close(mine[key], theirs[key], scale, f"{where}.{key}")
    elif isinstance(theirs, list):
        assert len(mine) == len(theirs), where
        for index, (left, right) in enumerate(zip(mine, theirs, strict=True)):
            assert_close(left, right, scale, f"{where}[{index}]")
    elif isinstance(theirs, float) and not isinstance(theirs, bool):
        assert isinstance(mine, float), where
        assert math.isclose(mine, theirs, rel_tol=1e-9, abs_tol=1e-12 * scale), (
            where,
            mine,
            theirs,
        )
    else:
        assert mine == theirs, where


def book_scale(share: EpochShare) -> float:
    exposure = share.exposure
    return float(abs(exposure.wallet).sum() + (exposure.notional() + abs(exposure.pnl)).sum())


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), partitions=st.integers(2, 4))
@example(seed=91870404, partitions=2)  # a +15% gap no one owes at: 0, not prefix-sum residue
def test_partition_shares_add_up_to_the_whole_book(seed: int, partitions: int) -> None:
    lines, instruments = generate_stream(seed, 500)
    config: EngineConfig = parse_config(config_text(instruments) + FUND_TABLE, "test")
    whole = shares_at_epochs(config.engine(), lines)
    parts = [shares_at_epochs(config.engine(), part) for part in split(lines, partitions)]
    common = sorted(set(whole).intersection(*parts))
    assert len(common) >= 3
    for at in common:
        expected_share = whole[at]
        market = parts[0][at].market
        for part in parts:
            other = part[at].market
            assert np.array_equal(other.marks, expected_share.market.marks, equal_nan=True)
            assert other.covariance.tolist() == expected_share.market.covariance.tolist()
            assert other.balances == expected_share.market.balances
        expected = aggregate_projection(expected_share.market, [expected_share])
        combined = aggregate_projection(market, [part[at] for part in parts])
        assert_close(combined, expected, book_scale(expected_share), f"epoch {at}")
