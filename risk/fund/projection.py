"""The fund projection of a whole book from its shares (SPEC §8, docs/FUND.md).

`fund_projection` turns the summed shares of every process into the per-asset records:
balance and 8-hour drawdown (from the market), the stress grid with Cover-N, both depletion
shocks, the Monte Carlo statistics, the recommended balance and funding gap, the ADL queue
heads and the liquidation map, the cascade of every grid shock with its depletion shocks, and
the loss allocation of every shock the fund does not cover. Its `Sources` answer for every
process together: `stress(asset, shocks)` the summed `StressShare`, `rounds(asset, side marks)`
the summed cascade round (`RoundShare`), `weights` and `queue` loss allocation's two questions
(risk/fund/allocation_book.py); slippage and the cascade's book walks are priced here, once, on
the summed contracts, against the market's depth books. One process (replay) passes its own
share; the Kafka workers' aggregator passes one that asks every worker.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from functools import reduce
from operator import add
from typing import Any, Final, NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray

from risk.fund.allocation import (
    QueueSource,
    WeightSource,
    closing_costs,
    loss_allocation,
    walked,
)
from risk.fund.allocation_book import QueuePrefix, WeightShare
from risk.fund.cascade import CascadePoint, RoundShare, RoundSource, cascade_stress
from risk.fund.cover import recommended_balance
from risk.fund.exposure import FloatArray
from risk.fund.liquidation_map import BANDS
from risk.fund.montecarlo import HorizonStats, horizon_stats
from risk.fund.parameters import (
    DEPLETION_DOWN,
    DEPLETION_STEP,
    DEPLETION_UP,
)
from risk.fund.share import StressShare, Totals, settle_assets
from risk.fund.snapshot import Market
from risk.records import finite

StressSource = Callable[[str, FloatArray], StressShare]
_SEARCH_WAYS: Final = 32
_LATTICE: Final = round(1 / DEPLETION_STEP)
CASCADE_CHUNK: Final = 2  # shocks of a depletion step cascaded together (measured: 1-16)


def _coarse(limit: int) -> NDArray[np.int64]:
    fine = np.arange(500, min(limit, 10_000) + 1, 500)
    wide = np.arange(12_500, limit + 1, 2_500)
    points = np.concatenate((fine, wide))
    return points if points[-1] == limit else np.append(points, limit)


COARSE_DOWN: Final = _coarse(round(-DEPLETION_DOWN * _LATTICE))
COARSE_UP: Final = _coarse(round(DEPLETION_UP * _LATTICE))


class Share(Protocol):
    """What a process answers about its accounts at an epoch (risk/fund/share.py)."""

    def stress(self, asset: str, shocks: FloatArray) -> StressShare: ...

    def cascade(self, asset: str, multiplier: FloatArray) -> RoundShare: ...

    def weights(self, asset: str, shocks: FloatArray) -> WeightShare: ...

    def queue(self, asset: str, shocks: FloatArray, need: FloatArray) -> QueuePrefix: ...

    def deleveraged(self, asset: str, shocks: FloatArray, need: FloatArray) -> FloatArray: ...

    def totals(self) -> Totals: ...


class Sources(NamedTuple):
    """Every process's accounts answering together (module docstring)."""

    stress: StressSource
    rounds: RoundSource
    weights: WeightSource
    queue: QueueSource


def aggregate_projection(market: Market, shares: Sequence[Share]) -> dict[str, Any]:
    """The projection of the accounts of every share (each account in exactly one)."""
    totals = Totals.merge([share.totals() for share in shares], market.parameters.adl_top)

    def stress(asset: str, shocks: FloatArray) -> StressShare:
        return reduce(add, [share.stress(asset, shocks) for share in shares])

    def rounds(asset: str, multiplier: FloatArray) -> RoundShare:
        return reduce(add, [share.cascade(asset, multiplier) for share in shares])

    def weights(asset: str, shocks: FloatArray) -> WeightShare:
        return reduce(add, [share.weights(asset, shocks) for share in shares])

    def queue(asset: str, shocks: FloatArray, need: FloatArray) -> FloatArray:
        if len(shares) == 1:  # its queues are the whole queues
            return shares[0].deleveraged(asset, shocks, need)
        return walked(reduce(add, [share.queue(asset, shocks, need) for share in shares]), need)

    return fund_projection(market, totals, Sources(stress, rounds, weights, queue))


def fund_projection(market: Market, totals: Totals, sources: Sources) -> dict[str, Any]:
    """{"ts", "funds", "adl", "liquidation_map"}: SPEC §10's sections at the epoch."""
    held = set(totals.losses)
    funds = [
        _fund_record(market, asset, totals, sources)
        for asset in settle_assets(market)
        if asset in held or asset in market.balances
    ]
    return {
        "ts": market.at - 1,
        "funds": funds,
        "adl": {
            symbol: {
                side: [entry.as_record() for entry in queue.top] for side, queue in sides.items()
            }
            for symbol, sides in sorted(totals.adl.items())
        },
        "liquidation_map": {
            symbol: _bands(cells) for symbol, cells in sorted(totals.liquidation.items())
        },
    }


def asset_records(projection: dict[str, Any], settle: dict[str, str]) -> dict[str, dict[str, Any]]:
    """One `riskmon.fund` record per asset: its fund entry, with the ADL queues and the
    liquidation map of the symbols settling in it, and the epoch's `ts`."""
    records = {}
    for fund in projection["funds"]:
        asset = fund["asset"]
        records[asset] = {
            "ts": projection["ts"],
            **fund,
            "adl": {s: q for s, q in projection["adl"].items() if settle.get(s) == asset},
            "liquidation_map": {
                s: bands
                for s, bands in projection["liquidation_map"].items()
                if settle.get(s) == asset
            },
        }
    return records


def _settling(by_symbol: dict[str, Any], settle: dict[str, str], asset: str) -> dict[str, Any]:
    return {symbol: value for symbol, value in by_symbol.items() if settle.get(symbol) == asset}


def drawdown(market: Market, asset: str, shocks: FloatArray, share: StressShare) -> FloatArray:
    """Deficits plus the cost of closing the summed contracts against the depth books."""
    costs: FloatArray = closing_costs(market, asset, shocks, share.closing).sum(axis=(0, 1))
    return share.deficit + costs


def depletion_search(
    direction: int,
) -> Generator[NDArray[np.int64], NDArray[np.bool_], float | None]:
    """The smallest k (x = direction * k * 1e-4) whose drawdown reaches the balance.

    A generator: it yields lattice steps to evaluate and receives, for each, whether the
    drawdown there is >= balance. Coarse steps first (every 0.05 to |x| = 1, then every
    0.25), then 32-way inside the first coarse step that reaches.
    """
    coarse = COARSE_DOWN if direction < 0 else COARSE_UP
    reached = yield coarse
    if not reached.any():
        return None
    first = int(np.argmax(reached))
    low, high = (int(coarse[first - 1]) if first else 0), int(coarse[first])
    while high - low > 1:
        inner = np.unique(np.linspace(low, high, _SEARCH_WAYS + 1).round().astype(np.int64))
        inner = inner[(inner > low) & (inner < high)]
        reached = yield inner
        if reached.any():
            index = int(np.argmax(reached))
            high, low = int(inner[index]), int(inner[index - 1]) if index else low
        else:
            low = int(inner[-1])
    return direction * high / _LATTICE


def depletion_shock(
    balance: float | None,
    direction: int,
    losses_at: Callable[[FloatArray], FloatArray],
    chunk: int | None = None,
) -> float | None:
    """`depletion_search` with `losses_at(shocks)` the drawdown at each shock. With `chunk`,
    the shocks of a step are evaluated `chunk` at a time, nearest first, until one reaches: the
    search only uses the first that does, so the answer is the same at a fraction of the cost
    when each evaluation is dear (a cascade)."""
    if balance is None:
        return None
    search = depletion_search(direction)
    steps = next(search)
    while True:
        shocks = direction * steps.astype(np.float64) / _LATTICE
        try:
            steps = search.send(_reached(shocks, losses_at, balance, chunk or len(shocks)))
        except StopIteration as done:
            result: float | None = done.value
            return result


def _reached(
    shocks: FloatArray, losses_at: Callable[[FloatArray], FloatArray], balance: float, chunk: int
) -> NDArray[np.bool_]:
    """losses >= balance at each shock, up to the first chunk that reaches (False after it)."""
    reached = np.zeros(len(shocks), dtype=np.bool_)
    for first in range(0, len(shocks), chunk):
        part = losses_at(shocks[first : first + chunk]) >= balance
        reached[first : first + chunk] = part
        if part.any():
            break
    return reached


def _fund_record(market: Market, asset: str, totals: Totals, sources: Sources) -> dict[str, Any]:
    parameters = market.parameters
    balance = market.balances.get(asset)
    shocks = np.array(parameters.shocks, dtype=np.float64)
    share = sources.stress(asset, shocks)
    losses = drawdown(market, asset, shocks, share)
    cascades = cascade_stress(market, asset, shocks, sources.rounds)
    allocations = loss_allocation(market, asset, shocks, losses, (sources.weights, sources.queue))
    nothing = [np.zeros(parameters.paths) for _ in parameters.horizons]  # no positions here
    stats = [
        horizon_stats(name, horizon, balance, parameters.confidence)
        for (name, _), horizon in zip(
            parameters.horizons, totals.losses.get(asset, nothing), strict=True
        )
    ]
    top = totals.cover.get(asset, np.zeros((2, len(shocks))))
    cover_1, cover_2 = top[0], top[0] + top[1]
    shortfall = [stat.expected_shortfall for stat in stats if stat.horizon == "24h"]
    recommended = finite(
        recommended_balance(
            parameters.shocks, cover_2, parameters.plausible_shock, next(iter(shortfall), None)
        )
    )
    return {
        "asset": asset,
        "balance": finite(balance),
        "drawdown_8h": finite(market.drawdowns.get(asset)),
        "stress": [
            {
                "shock": shock,
                "drawdown": float(loss),
                "bankrupt_accounts": int(count),
                "cover_1": float(first),
                "cover_2": float(both),
                "cascade": _cascade_entry(point, float(loss)),
                "allocation": allocation,
            }
            for shock, loss, count, first, both, point, allocation in zip(
                parameters.shocks,
                losses,
                share.negative,
                cover_1,
                cover_2,
                cascades,
                allocations,
                strict=True,
            )
        ],
        **_depletion_shocks(market, asset, balance, sources),
        "monte_carlo": [_monte_carlo_entry(stat, parameters.confidence) for stat in stats],
        "recommended_balance": recommended,
        "funding_gap": finite(
            None if recommended is None or balance is None else recommended - balance
        ),
    }


def _depletion_shocks(
    market: Market, asset: str, balance: float | None, sources: Sources
) -> dict[str, float | None]:
    """The one-round and the cascade depletion shocks, down and up."""
    stress, rounds = sources.stress, sources.rounds

    def one_round(shocks: FloatArray) -> FloatArray:
        return drawdown(market, asset, shocks, stress(asset, shocks))

    def cascade(shocks: FloatArray) -> FloatArray:
        return np.array([point.drawdown for point in cascade_stress(market, asset, shocks, rounds)])

    return {
        "depletion_shock_down": depletion_shock(balance, -1, one_round),
        "depletion_shock_up": depletion_shock(balance, +1, one_round),
        "cascade_depletion_shock_down": depletion_shock(balance, -1, cascade, CASCADE_CHUNK),
        "cascade_depletion_shock_up": depletion_shock(balance, +1, cascade, CASCADE_CHUNK),
    }


def _cascade_entry(point: CascadePoint, one_round: float) -> dict[str, Any]:
    """SPEC §8.2's `cascade` of a stress entry; the multiplier is over the one-round figure."""
    return {
        "drawdown": point.drawdown,
        "rounds": point.rounds,
        "liquidated_accounts": point.liquidated,
        "mark_moves": point.moves,
        "multiplier": point.drawdown / one_round if one_round > 0.0 else None,
    }


def _monte_carlo_entry(stat: HorizonStats, confidence: float) -> dict[str, Any]:
    return {
        "horizon": stat.horizon,
        "confidence": confidence,
        "expected_drawdown": stat.expected_drawdown,
        "var": stat.var,
        "expected_shortfall": stat.expected_shortfall,
        "depletion_probability": stat.depletion_probability,
    }


def _bands(cells: FloatArray) -> list[dict[str, Any]]:
    return [
        {
            "band": [band / 100, (band + 1) / 100],
            "long_notional": float(cells[row, 0]),
            "short_notional": float(cells[row, 1]),
        }
        for row, band in enumerate(BANDS)
    ]
