"""The fund projection of one engine: the `funds`, `adl` and `liquidation_map` sections of
SPEC §10, and of the `riskmon.fund` records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from risk.fund.adl import adl_queues
from risk.fund.exposure import Exposure, FloatArray, exposure_of
from risk.fund.liquidation_map import BANDS, liquidation_map
from risk.fund.montecarlo import HorizonStats, PathSet, draw_paths, horizon_stats
from risk.fund.parameters import FundParameters
from risk.fund.profile import profiles_of
from risk.fund.slippage import book_of
from risk.fund.stress import StressModel
from risk.records import finite

if TYPE_CHECKING:
    from risk.engine import Engine


def fund_sections(engine: Engine) -> dict[str, Any]:
    """{"funds": [...], "adl": {...}, "liquidation_map": {...}} at the engine's replay time."""
    exposure = exposure_of(engine)
    profiles = profiles_of(exposure, engine.fund_ledger.assets())
    books = {
        engine.symbols[symbol]: book_of(depth.bids, depth.asks)
        for symbol, depth in engine.depth.items()
    }
    parameters = engine.fund_parameters
    paths = monte_carlo_paths(engine, exposure) if len(exposure.size) else None
    funds = [
        _fund_record(engine, StressModel(exposure, profile, books), paths)
        for profile in profiles.values()
    ]
    adl = adl_queues(exposure, engine.margin_account_id, parameters.adl_top)
    return {
        "funds": funds,
        "adl": {
            symbol: {
                side: [entry.as_record() for entry in queue.top] for side, queue in sides.items()
            }
            for symbol, sides in adl.items()
        },
        "liquidation_map": {
            symbol: _bands(cells)
            for symbol, cells in liquidation_map(exposure, engine.instruments).items()
        },
    }


def monte_carlo_paths(engine: Engine, exposure: Exposure) -> PathSet:
    """Paths for every symbol, rows in the engine's symbol order (drawn in name order)."""
    parameters = engine.fund_parameters
    names = sorted(exposure.symbols)
    covariance = engine.volatility.matrix(names)
    horizons = tuple((name, length / parameters.bar_ms) for name, length in parameters.horizons)
    drawn = draw_paths(covariance, horizons, parameters.paths, parameters.seed)
    rank = {name: row for row, name in enumerate(names)}
    order = np.array([rank[name] for name in exposure.symbols], dtype=np.intp)
    return PathSet(drawn.horizons, tuple(m[order] for m in drawn.multipliers))


def monte_carlo_losses(model: StressModel, paths: PathSet) -> list[FloatArray]:
    """Each horizon's drawdown per path (deficits at the path's marks)."""
    inverse = model.exposure.inverse[:, None]
    return [
        model.profile.evaluate(np.where(inverse, 1.0 / m, m)).deficit for m in paths.multipliers
    ]


def _fund_record(engine: Engine, model: StressModel, paths: PathSet | None) -> dict[str, Any]:
    parameters: FundParameters = engine.fund_parameters
    asset = model.profile.asset
    balance = engine.fund_ledger.balance(asset)
    stats: list[HorizonStats] = []
    if paths is not None:
        losses = monte_carlo_losses(model, paths)
        stats = [
            horizon_stats(name, loss, balance, parameters.confidence)
            for name, loss in zip(paths.horizons, losses, strict=True)
        ]
    return {
        "asset": asset,
        "balance": finite(balance),
        "drawdown_8h": finite(engine.fund_ledger.drawdown(asset, engine.replay_time)),
        "stress": [
            {
                "shock": point.shock,
                "drawdown": point.drawdown,
                "bankrupt_accounts": point.bankrupt_accounts,
            }
            for point in model.grid(parameters.shocks)
        ],
        "depletion_shock_down": model.depletion_shock(balance, -1),
        "depletion_shock_up": model.depletion_shock(balance, +1),
        "monte_carlo": [
            {
                "horizon": stat.horizon,
                "confidence": parameters.confidence,
                "expected_drawdown": stat.expected_drawdown,
                "var": stat.var,
                "expected_shortfall": stat.expected_shortfall,
                "depletion_probability": stat.depletion_probability,
            }
            for stat in stats
        ],
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
