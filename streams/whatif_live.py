"""What-if on a worker's live book (SPEC §10.1): the proposal a request carries, one worker's
share of the answer, and the merge of every worker's share.

A proposal is a TOML document (or the same as JSON, with `Content-Type: application/json`)
with `[[instruments]]` and/or `[levels]`, validated as a `--config` file is. Instruments the
proposal does not name keep their tables; without `[levels]` the thresholds in force stay.
The answer has the shape of `riskmon whatif`'s document. Switching the tables now publishes
no transition of its own until each account is evaluated again, so `transitions.base` is 0
and `transitions.proposed` (= `added`) counts the level changes the switch would bring.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from risk.engine import Engine
from risk.instruments import Instrument
from risk.levels import LEVEL_NAMES, Thresholds, margin_ratio
from risk.whatif import WhatIfError, live_levels
from streams.config import ConfigError, config_of
from streams.whatif import changed_accounts, compare_funds

ORIGIN = "proposal"


class Proposal(NamedTuple):
    instruments: tuple[Instrument, ...]
    thresholds: Thresholds | None  # None: the thresholds in force


def parse_proposal(body: bytes, content_type: str) -> Proposal:
    """The proposal of a request body; `ConfigError` with a one-line reason if it is bad."""
    try:
        text = body.decode("utf-8")
        if content_type.split(";", maxsplit=1)[0].strip() == "application/json":
            document = json.loads(text)
        else:
            document = tomllib.loads(text)
    except (UnicodeDecodeError, ValueError) as error:  # JSON and TOML errors are ValueErrors
        raise ConfigError(f"{ORIGIN} is not valid TOML or JSON: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{ORIGIN} must be a table (an object)")
    unknown = sorted(set(document) - {"instruments", "levels"})
    if unknown:
        raise ConfigError(
            f"{ORIGIN}: only [[instruments]] and [levels] can change, not {unknown[0]!r}"
        )
    if not document:
        raise ConfigError(f"{ORIGIN} changes nothing: give [[instruments]] or [levels]")
    config = config_of(document, ORIGIN)
    return Proposal(config.instruments, config.thresholds if "levels" in document else None)


def worker_share(engine: Engine, proposal: Proposal) -> dict[str, Any]:
    """This worker's levels now and under the proposal, and its accounts that would change."""
    thresholds = proposal.thresholds or engine.thresholds
    for instrument in proposal.instruments:
        code = engine.symbols.get(instrument.symbol)
        if code is not None and engine.instruments[code].beta != instrument.beta:
            raise ConfigError(
                f"{ORIGIN}: instrument {instrument.symbol}: beta cannot change live (it moves "
                "the fund projection; `riskmon whatif` replays it)"
            )
    try:
        found = live_levels(engine, proposal.instruments, thresholds)
    except WhatIfError as error:
        raise ConfigError(f"{ORIGIN}: {error}") from None
    name = engine.margin_account_id
    sides: list[dict[str, tuple[str, float | None]]] = [{}, {}]
    for row in np.flatnonzero(found.level != found.proposed_level).tolist():
        identity, equity = name(int(found.accounts[row])), float(found.equity[row])
        level, moved = int(found.level[row]), int(found.proposed_level[row])
        base_ratio = margin_ratio(equity, float(found.maintenance[row]))
        sides[0][identity] = (LEVEL_NAMES[level], base_ratio)
        sides[1][identity] = (
            LEVEL_NAMES[moved],
            margin_ratio(equity, float(found.proposed_maintenance[row])),
        )
    return {
        "levels": {"base": _counts(found.level), "proposed": _counts(found.proposed_level)},
        "changed_accounts": changed_accounts(sides[0], sides[1]),
    }


def scaled_rates(instrument: Instrument, factor: float) -> dict[str, Any]:
    """The proposal (as JSON) that multiplies `instrument`'s maintenance rates by `factor` and
    keeps its caps (the cums follow from them, SPEC §4)."""
    tiers: list[dict[str, float]] = [
        {"cap": cap, "mmr": mmr * factor}
        for cap, mmr in zip(instrument.tiers.caps, instrument.tiers.mmrs, strict=False)
    ]
    tiers.append({"mmr": instrument.tiers.mmrs[-1] * factor})
    fields = ("symbol", "kind", "settle", "contract_size", "beta")
    table = {name: getattr(instrument, name) for name in fields}
    return {"instruments": [{**table, "tiers": tiers}]}


def merge_shares(shares: Iterable[dict[str, Any]], funds: list[dict[str, Any]]) -> dict[str, Any]:
    """One document from every worker's share, with the fund records in force (tiers and
    thresholds do not enter the one-round stress or the recommended balance, SPEC §8)."""
    levels: dict[str, dict[str, int]] = {
        side: dict.fromkeys(LEVEL_NAMES, 0) for side in ("base", "proposed")
    }
    changed: list[dict[str, Any]] = []
    for share in shares:
        for side, counts in share["levels"].items():
            for level, count in counts.items():
                levels[side][level] += count
        changed += share["changed_accounts"]
    changed.sort(key=lambda item: item["margin_account"])
    return {
        "levels": levels,
        "changed_accounts": changed,
        "transitions": {"base": 0, "proposed": len(changed), "added": len(changed), "removed": 0},
        "funds": compare_funds(funds, funds),
    }


def _counts(levels: NDArray[np.int8]) -> dict[str, int]:
    counts = np.bincount(levels, minlength=len(LEVEL_NAMES)).tolist()
    return dict(zip(LEVEL_NAMES, counts, strict=True))
