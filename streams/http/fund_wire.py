"""Fund shares on the wire between workers (JSON; arrays as base64 of little-endian float64,
so every number crosses exactly)."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from numpy.typing import NDArray

from risk.fund.adl import AdlEntry, AdlQueue
from risk.fund.allocation_book import QueuePrefix, WeightShare
from risk.fund.cascade import RoundShare
from risk.fund.exposure import FloatArray
from risk.fund.share import StressShare, Totals


def pack(values: FloatArray) -> dict[str, Any]:
    array = np.ascontiguousarray(values, dtype="<f8")
    return {"shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode()}


def unpack(document: dict[str, Any]) -> FloatArray:
    raw = base64.b64decode(document["data"])
    return np.frombuffer(raw, dtype="<f8").astype(np.float64).reshape(document["shape"])


def totals_document(totals: Totals) -> dict[str, Any]:
    return {
        "losses": {
            asset: [pack(horizon) for horizon in horizons]
            for asset, horizons in totals.losses.items()
        },
        "adl": {
            symbol: {
                side: {
                    "length": queue.length,
                    "top": [[entry.margin_account, entry.score] for entry in queue.top],
                }
                for side, queue in sides.items()
            }
            for symbol, sides in totals.adl.items()
        },
        "liquidation": {symbol: pack(cells) for symbol, cells in totals.liquidation.items()},
        "cover": {asset: pack(top) for asset, top in totals.cover.items()},
    }


def totals_from(document: dict[str, Any]) -> Totals:
    return Totals(
        losses={
            asset: [unpack(horizon) for horizon in horizons]
            for asset, horizons in document["losses"].items()
        },
        adl={
            symbol: {
                side: AdlQueue(
                    int(queue["length"]),
                    tuple(AdlEntry(str(name), float(score), 0) for name, score in queue["top"]),
                )
                for side, queue in sides.items()
            }
            for symbol, sides in document["adl"].items()
        },
        liquidation={symbol: unpack(cells) for symbol, cells in document["liquidation"].items()},
        cover={asset: unpack(top) for asset, top in document["cover"].items()},
    )


STRESS_FIELDS = ("deficit", "negative", "closing")
ROUND_FIELDS = ("deficit", "liquidated", "flows")


def stress_document(share: StressShare) -> dict[str, Any]:
    return _columns_document(share, STRESS_FIELDS)


def stress_from(document: dict[str, Any]) -> StressShare:
    return StressShare(*_columns_from(document, STRESS_FIELDS))


def round_document(share: RoundShare) -> dict[str, Any]:
    return _columns_document(share, ROUND_FIELDS)


def round_from(document: dict[str, Any]) -> RoundShare:
    return RoundShare(*_columns_from(document, ROUND_FIELDS))


def weights_document(share: WeightShare) -> dict[str, Any]:
    return {name: pack(values) for name, values in zip(WeightShare._fields, share, strict=True)}


def weights_from(document: dict[str, Any]) -> WeightShare:
    return WeightShare(*(unpack(document[name]) for name in WeightShare._fields))


def prefix_document(prefix: QueuePrefix) -> dict[str, Any]:
    return {
        "column": prefix.column.tolist(),
        "cell": prefix.cell.tolist(),
        **{name: pack(getattr(prefix, name)) for name in ("score", "contracts", "notional")},
    }


def prefix_from(document: dict[str, Any]) -> QueuePrefix:
    return QueuePrefix(
        np.array(document["column"], dtype=np.intp),
        np.array(document["cell"], dtype=np.intp),
        *(unpack(document[name]) for name in ("score", "contracts", "notional")),
    )


def _columns_document(
    share: tuple[FloatArray, NDArray[np.int64], FloatArray], names: tuple[str, str, str]
) -> dict[str, Any]:
    """(money per scenario, accounts per scenario, contracts): floats exact, counts as ints."""
    money, accounts, contracts = share
    return {names[0]: pack(money), names[1]: accounts.tolist(), names[2]: pack(contracts)}


def _columns_from(
    document: dict[str, Any], names: tuple[str, str, str]
) -> tuple[FloatArray, NDArray[np.int64], FloatArray]:
    return (
        unpack(document[names[0]]),
        np.array(document[names[1]], dtype=np.int64),
        unpack(document[names[2]]),
    )
