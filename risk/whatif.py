"""What-if on the live book (SPEC §10.1): the levels every tracked margin account would take if
a proposed tier table or proposed thresholds came into force now. The engine is not changed.

For every position of a symbol whose tiers change, at its current valuation price P (the mark,
or its entry price without one), with N its notional, the maintenance margin moves by

    MM_new(N) - MM_old(N),   MM(N) = N * mmr_k - cum_k for the tier k of N       (SPEC §3-§4)

and each account's maintenance margin by the sum over its positions. Equity does not depend
on tiers or thresholds. The proposed level is the one SPEC §5's rule moves the account to from
its current level (escalation at once, de-escalation past the hysteresis), as the switch would
on its next evaluation; the record each change would publish is not built. Kind, settle asset
and contract size cannot change (the engine refuses the first two on `instrument` events, and
the third would revalue every position): such a proposal is refused with `WhatIfError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from risk.book import float_view, int8_view, int32_view
from risk.engine import Engine
from risk.instruments import Instrument, TierTable
from risk.levels import Thresholds, next_levels


class WhatIfError(ValueError):
    """A proposal the live book cannot be evaluated under; the message says why."""


class LiveLevels(NamedTuple):
    """Per tracked margin account (engine indices, ordered): levels and totals now and under
    the proposal."""

    accounts: NDArray[np.int64]
    level: NDArray[np.int8]
    proposed_level: NDArray[np.int8]
    equity: NDArray[np.float64]
    maintenance: NDArray[np.float64]
    proposed_maintenance: NDArray[np.float64]


def live_levels(
    engine: Engine, instruments: Iterable[Instrument], thresholds: Thresholds
) -> LiveLevels:
    """The levels of every tracked margin account under `instruments` (symbols the engine does
    not know are ignored: nothing holds them) and `thresholds`."""
    equity, maintenance = engine.current_totals()
    proposed = maintenance.copy()
    for instrument in instruments:
        code = engine.symbols.get(instrument.symbol)
        if code is None:
            continue
        current = engine.instruments[code]
        _refuse_revaluation(current, instrument)
        if current.tiers == instrument.tiers:
            continue
        block = engine.blocks[code]
        notional = _notionals(engine, code)
        change = _maintenance(instrument.tiers, notional) - _maintenance(current.tiers, notional)
        owners = int32_view(block.account)[: len(block)]
        proposed += np.bincount(owners, weights=change, minlength=len(proposed))
    accounts = np.flatnonzero(int32_view(engine.margin.positions) > 0)
    level = int8_view(engine.margin.level)[accounts].copy()
    moved = next_levels(thresholds, level, equity[accounts], proposed[accounts])
    return LiveLevels(
        accounts, level, moved, equity[accounts], maintenance[accounts], proposed[accounts]
    )


def _refuse_revaluation(current: Instrument, proposed: Instrument) -> None:
    for name in ("kind", "settle", "contract_size"):
        if getattr(current, name) != getattr(proposed, name):
            raise WhatIfError(
                f"instrument {proposed.symbol}: {name} cannot change in a what-if "
                f"({getattr(current, name)!r} -> {getattr(proposed, name)!r})"
            )


def _notionals(engine: Engine, code: int) -> NDArray[np.float64]:
    """N = |size| * cs * P (linear) or |size| * cs / P (inverse) of the symbol's rows."""
    block, instrument = engine.blocks[code], engine.instruments[code]
    rows = len(block)
    size, entry = float_view(block.size)[:rows], float_view(block.entry)[:rows]
    mark = engine.marks[code]
    price = entry if mark is None else np.full(rows, mark)
    quantity = np.abs(size) * instrument.contract_size
    if instrument.kind == "linear":
        notional: NDArray[np.float64] = quantity * price
    else:
        notional = quantity / price
    return notional


def _maintenance(tiers: TierTable, notional: NDArray[np.float64]) -> NDArray[np.float64]:
    """MM(N) = N * mmr_k - cum_k, k the tier of N (cap_{k-1} < N <= cap_k)."""
    tier = tiers.tiers_of(notional)
    result: NDArray[np.float64] = notional * tiers.mmr_array[tier] - tiers.cum_array[tier]
    return result
