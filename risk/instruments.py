"""Instruments and their maintenance-margin tier tables (SPEC §3, §4).

A tier table with K tiers has caps c_0 < c_1 < ... < c_{K-2} (the last tier is unbounded),
rates mmr_0 <= ... <= mmr_{K-1} and maintenance amounts

    cum_0 = 0,   cum_k = cum_{k-1} + floor_k * (mmr_k - mmr_{k-1}),   floor_k = c_{k-1}.

A position of notional N (settle-asset units) is in the tier k with floor_k < N <= c_k, and its
maintenance margin is  MM(N) = N * mmr_k - cum_k.  The cum recurrence makes MM continuous at
every cap, so the owner of a boundary value changes no number; non-decreasing rates make MM
convex, MM(N) = max_k (N * mmr_k - cum_k).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from risk.fields import FieldError, number

Kind = Literal["linear", "inverse"]

DEFAULT_MMR: Final = 0.005
CUM_TOLERANCE: Final = 1e-9
MAX_TIERS: Final = 1000  # the book stores tier indices as int16


@dataclass(frozen=True, slots=True)
class TierTable:
    """Validated tiers. `caps` has one entry fewer than `mmrs` and `cums`.

    `steps[j]` = (cap_j, mmr_{j+1} - mmr_j, cum_{j+1} - cum_j): what changes at cap j.
    """

    caps: tuple[float, ...]
    mmrs: tuple[float, ...]
    cums: tuple[float, ...]
    cap_array: NDArray[np.float64] = field(init=False, compare=False, repr=False)
    floor_array: NDArray[np.float64] = field(init=False, compare=False, repr=False)
    upper_array: NDArray[np.float64] = field(init=False, compare=False, repr=False)
    mmr_array: NDArray[np.float64] = field(init=False, compare=False, repr=False)
    cum_array: NDArray[np.float64] = field(init=False, compare=False, repr=False)
    steps: tuple[tuple[float, float, float], ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        caps = np.array(self.caps, dtype=np.float64)
        object.__setattr__(self, "cap_array", caps)
        object.__setattr__(self, "floor_array", np.concatenate(([-np.inf], caps)))
        object.__setattr__(self, "upper_array", np.concatenate((caps, [np.inf])))
        object.__setattr__(self, "mmr_array", np.array(self.mmrs, dtype=np.float64))
        object.__setattr__(self, "cum_array", np.array(self.cums, dtype=np.float64))
        steps = tuple(
            (cap, self.mmrs[k + 1] - self.mmrs[k], self.cums[k + 1] - self.cums[k])
            for k, cap in enumerate(self.caps)
        )
        object.__setattr__(self, "steps", steps)

    def tier(self, notional: float) -> int:
        """Index k of the tier holding `notional` (floor_k < notional <= cap_k)."""
        return bisect.bisect_left(self.caps, notional)

    def maintenance(self, notional: float) -> float:
        """MM(N) = N * mmr_k - cum_k for the tier k of N."""
        k = bisect.bisect_left(self.caps, notional)
        return notional * self.mmrs[k] - self.cums[k]

    def tiers_of(self, notional: NDArray[np.float64]) -> NDArray[np.intp]:
        """Vectorized `tier`."""
        return np.searchsorted(self.cap_array, notional, side="left")


class Instrument(NamedTuple):
    """One perpetual contract. Money is in `settle`; `beta` scales stress shocks (SPEC §8)."""

    symbol: str
    kind: Kind
    settle: str
    contract_size: float
    tiers: TierTable
    beta: float


def derive_cums(caps: tuple[float, ...], mmrs: tuple[float, ...]) -> tuple[float, ...]:
    """cum_0 = 0, cum_k = cum_{k-1} + cap_{k-1} * (mmr_k - mmr_{k-1})."""
    cums = [0.0]
    for k in range(1, len(mmrs)):
        cums.append(cums[-1] + caps[k - 1] * (mmrs[k] - mmrs[k - 1]))
    return tuple(cums)


DEFAULT_TIERS: Final = TierTable((), (DEFAULT_MMR,), (0.0,))


def tier_table(raw: object) -> TierTable:
    """Validate a raw tier list (SPEC §3); `None` gives the default single tier (mmr 0.005)."""
    if raw is None:
        return DEFAULT_TIERS
    if not isinstance(raw, list | tuple):
        raise _tiers("not a list")
    if not raw:
        raise _tiers("empty")
    if len(raw) > MAX_TIERS:
        raise _tiers(f"more than {MAX_TIERS} tiers")
    caps: list[float] = []
    mmrs: list[float] = []
    given_cums: list[float | None] = []
    for index, tier in enumerate(raw):
        if not isinstance(tier, Mapping):
            raise _tiers("tier is not an object")
        _read_cap(tier, index == len(raw) - 1, caps)
        _read_mmr(tier, mmrs)
        cum = tier.get("cum")
        given_cums.append(None if cum is None else _tier_number(cum))
    cums = derive_cums(tuple(caps), tuple(mmrs))
    for given, derived in zip(given_cums, cums, strict=True):
        if given is not None and abs(given - derived) > CUM_TOLERANCE * max(1.0, abs(derived)):
            raise _tiers("cum inconsistent")
    return TierTable(tuple(caps), tuple(mmrs), cums)


def _read_cap(tier: Mapping[str, object], last: bool, caps: list[float]) -> None:
    cap = tier.get("cap")
    if last:
        if cap is not None:
            raise _tiers("cap on last tier")
        return
    if cap is None:
        raise _tiers("missing cap")
    value = _tier_number(cap)
    if value <= 0.0:
        raise _tiers("cap must be positive")
    if caps and value <= caps[-1]:
        raise _tiers("caps must increase")
    caps.append(value)


def _read_mmr(tier: Mapping[str, object], mmrs: list[float]) -> None:
    mmr = tier.get("mmr")
    if mmr is None:
        raise _tiers("missing mmr")
    value = _tier_number(mmr)
    if not 0.0 < value < 1.0:
        raise _tiers("mmr must be in (0, 1)")
    if mmrs and value < mmrs[-1]:
        raise _tiers("mmr must not decrease")
    mmrs.append(value)


def _tier_number(item: object) -> float:
    try:
        return number(item, "tiers")
    except FieldError:
        raise _tiers("not a number") from None


TIER_PROBLEMS: Final = (
    "not a list", "empty", f"more than {MAX_TIERS} tiers", "tier is not an object",
    "cum inconsistent", "cap on last tier", "missing cap", "cap must be positive",
    "caps must increase", "missing mmr", "mmr must be in (0, 1)", "mmr must not decrease",
    "not a number",
)  # fmt: skip


def _tiers(detail: str) -> FieldError:
    """The rejection of a tier table; `detail` is one of TIER_PROBLEMS."""
    return FieldError(f"invalid tiers: {detail}")
