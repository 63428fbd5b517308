"""Per-symbol columns the compiled evaluation reads (`risk.kernels.accounts.Table`)."""

from __future__ import annotations

import numpy as np

from risk.instruments import Instrument
from risk.kernels.accounts import Table


def instrument_table(instruments: list[Instrument]) -> Table:
    """Linear flag, contract size, rank of the symbol name and the tier tables of every symbol.

    Symbol s's tiers sit at start[s] in three columns of one length: caps (plus one unused
    slot), maintenance margin rates and cumulative amounts, so caps[start:start+n] are its n
    caps and mmrs[start:start+n+1], cums[...] its n+1 tiers.
    """
    names = sorted(range(len(instruments)), key=lambda code: instruments[code].symbol)
    rank = np.empty(len(instruments), dtype=np.int32)
    rank[names] = np.arange(len(instruments), dtype=np.int32)
    counts = np.array([len(item.tiers.caps) for item in instruments], dtype=np.int32)
    start = np.zeros(len(instruments), dtype=np.int32)
    start[1:] = np.cumsum(counts + 1)[:-1]
    caps: list[float] = []
    mmrs: list[float] = []
    cums: list[float] = []
    for item in instruments:
        caps.extend((*item.tiers.caps, np.inf))
        mmrs.extend(item.tiers.mmrs)
        cums.extend(item.tiers.cums)
    return (
        np.array([item.kind == "linear" for item in instruments], dtype=np.bool_),
        np.array([item.contract_size for item in instruments], dtype=np.float64),
        rank,
        start,
        counts,
        np.array(caps, dtype=np.float64),
        np.array(mmrs, dtype=np.float64),
        np.array(cums, dtype=np.float64),
    )
