"""Cover-N and the recommended fund size (SPEC §8.1, docs/FUND.md "Cover-2").

At each grid shock x every mark moves to mark * max(1 + beta * x, 0.001), as in the stress
test, and each margin account's deficit max(0, -equity) is taken before slippage. The deficits
of one account's margin accounts settling in one asset are added up (the default of one
participant), and per asset and shock

    cover_1(x) = the largest owner deficit,   cover_2(x) = the sum of the two largest.

A share keeps the two largest owner deficits per asset and shock (`top_two`): every owner lives
in exactly one share (inputs are keyed by account), so the top two of a whole book are the top
two of the shares' top twos (`merge_top_two`).

    recommended_balance = max(max over grid shocks with |x| <= plausible_shock of cover_2(x),
                              the 24 h Monte Carlo expected shortfall)
    funding_gap         = recommended_balance - balance
"""

from __future__ import annotations

import numpy as np

from risk.fund.exposure import Exposure, FloatArray
from risk.fund.parameters import shock_multiplier
from risk.kernels.cover import top_two_deficits

TopTwo = dict[str, FloatArray]  # asset -> 2 x shocks: largest and second largest owner deficit


def top_two(exposure: Exposure, shocks: FloatArray) -> TopTwo:
    """The two largest owner deficits per settle asset held and shock (units of the asset)."""
    if not exposure.accounts:
        return {}
    multiplier = shock_multiplier(exposure.beta, shocks)
    g = np.where(exposure.inverse[:, None], 1.0 / multiplier, multiplier)
    top = top_two_deficits(
        exposure.wallet,
        exposure.account_asset,
        exposure.owner,
        (
            exposure.position_account,
            exposure.position_symbol,
            exposure.size,
            exposure.price,
            exposure.entry,
        ),
        (exposure.inverse, exposure.contract_size),
        np.ascontiguousarray(g),
        len(exposure.assets),
    )
    held = np.flatnonzero(np.bincount(exposure.account_asset, minlength=len(exposure.assets)))
    return {exposure.assets[index]: top[index] for index in held.tolist()}


def merge_top_two(parts: list[TopTwo]) -> TopTwo:
    """The top two over disjoint owners: the two largest of every part's two, per shock."""
    merged: dict[str, list[FloatArray]] = {}
    for part in parts:
        for asset, top in part.items():
            merged.setdefault(asset, []).append(top)
    return {
        asset: -np.sort(-np.concatenate(tops, axis=0), axis=0)[:2] for asset, tops in merged.items()
    }


def recommended_balance(
    shocks: tuple[float, ...],
    cover_2: FloatArray,
    plausible_shock: float,
    expected_shortfall: float | None,
) -> float | None:
    """max(cover_2 over |x| <= plausible_shock, the 24 h expected shortfall); None when neither
    is known."""
    candidates = [
        float(value)
        for shock, value in zip(shocks, cover_2, strict=True)
        if abs(shock) <= plausible_shock
    ]
    if expected_shortfall is not None:
        candidates.append(expected_shortfall)
    return max(candidates) if candidates else None
