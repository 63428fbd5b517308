"""Auto-deleveraging queues (SPEC §8).

Per symbol and side, the profitable positions (uPnL > 0) of margin accounts with positive
equity, ranked by

    score = (uPnL / entry notional) * (notional / equity of the margin account)

(profit rate times effective leverage; dimensionless). Entry notional is |s|*cs*EP (linear) or
|s|*cs/EP (inverse); notional is at the mark (the entry price while there is none). The
position at rank i (0 = highest score) of a queue of n is in quintile 5 - floor(5 * i / n):
5 holds the top fifth, first to be deleveraged. Equal scores rank by margin account id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from risk.fund.exposure import Exposure

SIDES = ("long", "short")


class AdlEntry(NamedTuple):
    margin_account: str
    score: float
    quintile: int

    def as_record(self) -> dict[str, object]:
        return {
            "margin_account": self.margin_account,
            "score": self.score,
            "quintile": self.quintile,
        }


class AdlQueue(NamedTuple):
    """The length of one queue and its first entries."""

    length: int
    top: tuple[AdlEntry, ...]


def adl_queues(
    exposure: Exposure, name_of: Callable[[int], str], top: int
) -> dict[str, dict[str, AdlQueue]]:
    """Queues of every symbol with open positions; `name_of` maps an engine account to its id."""
    equity = exposure.equity()[exposure.position_account]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # not finite: unranked
        score = (exposure.pnl / exposure.entry_notional()) * (exposure.notional() / equity)
    ranked = (exposure.pnl > 0.0) & (equity > 0.0) & np.isfinite(score)
    group = exposure.position_symbol * 2 + (exposure.size < 0.0)
    rows = np.flatnonzero(ranked)
    rows = rows[np.lexsort((-score[rows], group[rows]))]
    bounds = np.searchsorted(group[rows], np.arange(2 * len(exposure.symbols) + 1))
    result: dict[str, dict[str, AdlQueue]] = {}
    for symbol in np.unique(exposure.position_symbol).tolist():
        result[exposure.symbols[symbol]] = {
            side: _queue(
                exposure,
                rows[bounds[2 * symbol + index] : bounds[2 * symbol + index + 1]],
                score,
                name_of,
                top,
            )
            for index, side in enumerate(SIDES)
        }
    return result


def _queue(
    exposure: Exposure,
    rows: np.ndarray,
    score: np.ndarray,
    name_of: Callable[[int], str],
    top: int,
) -> AdlQueue:
    """The first `top` of `rows` (sorted by score, descending), ties broken by id."""
    length = len(rows)
    cut = min(top, length)
    while 0 < cut < length and score[rows[cut]] == score[rows[cut - 1]]:
        cut += 1
    named = sorted(
        (-float(score[row]), name_of(int(exposure.account_ref[exposure.position_account[row]])))
        for row in rows[:cut].tolist()
    )[:top]
    entries = tuple(
        AdlEntry(name, -negated, 5 - (5 * rank) // length)
        for rank, (negated, name) in enumerate(named)
    )
    return AdlQueue(length, entries)


def merge_queues(
    parts: list[dict[str, dict[str, AdlQueue]]], top: int
) -> dict[str, dict[str, AdlQueue]]:
    """The queues of a book split across parts (each with its own first `top` entries).

    The first `top` of the whole queue are among the parts' first `top`; quintiles follow
    from their rank in the merged order and the summed length.
    """
    merged: dict[str, dict[str, AdlQueue]] = {}
    for symbol in sorted({symbol for part in parts for symbol in part}):
        merged[symbol] = {}
        for side in SIDES:
            queues = [part[symbol][side] for part in parts if symbol in part]
            length = sum(queue.length for queue in queues)
            ranked = sorted(
                (entry for queue in queues for entry in queue.top),
                key=lambda entry: (-entry.score, entry.margin_account),
            )[:top]
            merged[symbol][side] = AdlQueue(
                length,
                tuple(
                    entry._replace(quintile=5 - (5 * rank) // length)
                    for rank, entry in enumerate(ranked)
                ),
            )
    return merged
