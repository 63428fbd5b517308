"""What-if (SPEC §10.1): one event file replayed under a base and a proposed configuration.

    riskmon whatif EVENTS.jsonl --config PROPOSED.toml [--base CURRENT.toml] [--out REPORT.json]
                   [--report]

Each batch of lines is decoded into columns once and applied to both engines (so the what-if
costs one decode and two applications, less than two replays). The document compares their
states at the end of the file: levels, the margin accounts whose level differs, the
transitions either side published (matched by `(event_id, to)`), and each fund's depletion
shock and recommended balance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from risk.book import int8_view, int32_view
from risk.engine import Engine
from risk.fund.report import fund_sections
from risk.levels import LEVEL_NAMES, margin_ratio
from streams.columns import decode_lines
from streams.command_files import amount
from streams.replay import BATCH_LINES, numbered_batches

SIDES = ("base", "proposed")
FUND_FIELDS = ("depletion_shock_down", "recommended_balance")


@dataclass
class Transitions:
    """What one side published: the count and every (event_id, to)."""

    count: int = 0
    keys: set[tuple[str, str]] = field(default_factory=set)


def whatif_lines(
    lines: Iterable[bytes],
    engines: tuple[Engine, Engine],
    progress: Callable[[int], object] | None = None,
) -> dict[str, Any]:
    """The SPEC §10.1 document of replaying `lines` through (base, proposed)."""
    published = (Transitions(), Transitions())
    read = 0
    for chunk in numbered_batches(lines, BATCH_LINES):
        read += len(chunk)
        batch = decode_lines(line for _, line in chunk if line.strip())
        for engine, seen in zip(engines, published, strict=True):
            for _, transitions in engine.apply_batch(batch).transitions:
                seen.count += len(transitions)
                seen.keys.update((item.event_id, item.to_level) for item in transitions)
        if progress is not None:
            progress(read)
    return whatif_document(engines, published)


def whatif_document(
    engines: tuple[Engine, Engine], published: tuple[Transitions, Transitions]
) -> dict[str, Any]:
    base, proposed = published
    return {
        "levels": {
            side: engine.level_counts() for side, engine in zip(SIDES, engines, strict=True)
        },
        "changed_accounts": changed_accounts(*(final_levels(engine) for engine in engines)),
        "transitions": {
            "base": base.count,
            "proposed": proposed.count,
            "added": len(proposed.keys - base.keys),
            "removed": len(base.keys - proposed.keys),
        },
        "funds": compare_funds(*(fund_sections(engine)["funds"] for engine in engines)),
    }


def final_levels(engine: Engine) -> dict[str, tuple[str, float | None]]:
    """{margin account id: (level, margin ratio)} of every tracked margin account (ratios
    from the running totals, within about 1e-12 of the summary's canonical ones)."""
    holding = np.flatnonzero(int32_view(engine.margin.positions) > 0)
    equity, maintenance = engine.current_totals()
    levels = int8_view(engine.margin.level)[holding].tolist()
    name = engine.margin_account_id
    return {
        name(account): (LEVEL_NAMES[level], margin_ratio(equity[account], maintenance[account]))
        for account, level in zip(holding.tolist(), levels, strict=True)
    }


def changed_accounts(
    base: dict[str, tuple[str, float | None]], proposed: dict[str, tuple[str, float | None]]
) -> list[dict[str, Any]]:
    """The margin accounts whose final level differs, by id; an account tracked on one side
    only is `safe` with a null ratio on the other (it holds no position there)."""
    untracked: tuple[str, float | None] = ("safe", None)
    changed = []
    for identity in sorted(base.keys() | proposed.keys()):
        before, after = base.get(identity, untracked), proposed.get(identity, untracked)
        if before[0] != after[0]:
            changed.append(
                {
                    "margin_account": identity,
                    "base_level": before[0],
                    "proposed_level": after[0],
                    "base_margin_ratio": _number(before[1]),
                    "proposed_margin_ratio": _number(after[1]),
                }
            )
    return changed


def compare_funds(
    base: list[dict[str, Any]], proposed: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per settle asset (either side's), its depletion shock and recommended balance."""
    sides = [{fund["asset"]: fund for fund in funds} for funds in (base, proposed)]
    assets = sorted(sides[0].keys() | sides[1].keys())
    return [
        {
            "asset": asset,
            **{
                side: {name: found.get(asset, {}).get(name) for name in FUND_FIELDS}
                for side, found in zip(SIDES, sides, strict=True)
            },
        }
        for asset in assets
    ]


def report_line(document: dict[str, Any]) -> str:
    """One line for a terminal: what changes under the proposal."""
    changed = document["changed_accounts"]
    up = sum(
        LEVEL_NAMES.index(item["proposed_level"]) > LEVEL_NAMES.index(item["base_level"])
        for item in changed
    )
    counts = document["transitions"]
    parts = [
        f"what-if: {len(changed)} margin accounts change level ({up} up, {len(changed) - up} "
        f"down); transitions {counts['base']} -> {counts['proposed']} (+{counts['added']} "
        f"-{counts['removed']})"
    ]
    for fund in document["funds"]:
        shocks = [_shock(fund[side]["depletion_shock_down"]) for side in SIDES]
        sizes = [amount(fund[side]["recommended_balance"]) for side in SIDES]
        parts.append(
            f"{fund['asset']}: depletion shock down {shocks[0]} -> {shocks[1]}, "
            f"recommended balance {sizes[0]} -> {sizes[1]}"
        )
    return "; ".join(parts)


def _number(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _shock(value: float | None) -> str:
    return "none" if value is None else f"{value:+.2%}"
