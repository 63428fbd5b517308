"""The fund projection of one engine, now: the `funds`, `adl` and `liquidation_map` sections
of SPEC §10 (what `riskmon replay --summary` writes at the end of a file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from risk.fund.projection import aggregate_projection
from risk.fund.share import EpochShare
from risk.fund.snapshot import take_market, take_share

if TYPE_CHECKING:
    from risk.engine import Engine


def engine_share(engine: Engine, at: int | None = None) -> EpochShare:
    """The engine's share at epoch `at` (default: just after its replay time)."""
    market = take_market(engine, engine.replay_time + 1 if at is None else at)
    return EpochShare.of(market, [take_share(engine)])


def fund_sections(engine: Engine) -> dict[str, Any]:
    share = engine_share(engine)
    projection = aggregate_projection(share.market, [share])
    return {name: projection[name] for name in ("funds", "adl", "liquidation_map")}
