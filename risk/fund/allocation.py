"""Who pays when the fund is not enough (SPEC §8.3; the model: docs/FUND.md "Loss allocation").

At a grid shock x whose one-round drawdown D exceeds the balance B, the shortfall is
S = D - max(B, 0). D is what the accounts in deficit owe: each account's deficit, carried by
its positions in proportion to their losses (risk/kernels/allocation.py), plus the slippage of
closing each side of each symbol. Per side b and symbol s that is w_bs (sum w = D), held by
C_bs contracts of the accounts in deficit.

ADL. The venue covers S instead of the fund by closing bankrupt contracts against profitable
positions on the other side o at the bankruptcy prices. Closing all C_bs would cover all of
w_bs, so a contract covers w_bs / C_bs, and the shortfall is covered pro rata when every
(b, s) covers the same fraction S / D of what it owes:

    need_os = C_bs * S / D  contracts taken from side o of s, covering S * w_bs / D

They are taken from the (o, s) ADL queue at the shocked marks (score of SPEC §8, among the
accounts with positive equity there), best score first; at equal scores the larger position
first (the totals do not depend on which of two equal entries goes first); the last one
partly; a need is met once less than 1e-9 of it is left (what rounding leaves when a queue
holds exactly the contracts needed). `positions`, `contracts` and `notional` (at the shocked
mark) are what is taken; `covered` = contracts * w_bs / C_bs, short of S * w_bs / D only when
the queue runs out. Reported under the deleveraged side: {symbol: {"long" | "short": {...}}}.

Socialized. Every account with positive equity at the shock gives up the same fraction of its
positive uPnL U: haircut = min(1, S / U), 1 when no one is in profit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from risk.fund.adl import SIDES
from risk.fund.allocation_book import QueuePrefix, WeightShare
from risk.fund.cascade import asset_rows
from risk.fund.exposure import FloatArray, sum_by
from risk.fund.parameters import shock_multiplier
from risk.fund.slippage import close_cost
from risk.fund.snapshot import Market
from risk.kernels.queue_cut import MET, contracts_before

# (asset, shocks) -> the summed weights; (asset, shocks, need) -> 3 (positions, contracts,
# notional) x 2 x rows x n taken from every process's queues together
WeightSource = Callable[[str, FloatArray], WeightShare]
QueueSource = Callable[[str, FloatArray, FloatArray], FloatArray]


def closing_costs(
    market: Market, asset: str, shocks: FloatArray, closing: FloatArray
) -> FloatArray:
    """2 x rows x n: the slippage of selling `closing[0]` long and buying back `closing[1]`
    short contracts of each of the asset's symbols at each shock (risk/fund/slippage.py)."""
    cost = np.zeros(closing.shape)
    for row, symbol in enumerate(asset_rows(market, asset)):
        book, mark = market.books.get(symbol), float(market.marks[symbol])
        if book is None or not np.isfinite(mark) or not closing[:, row].any():
            continue
        cost[:, row] = close_cost(
            book,
            inverse=bool(market.inverse[symbol]),
            contract_size=float(market.contract_size[symbol]),
            mark=mark,
            multiplier=shock_multiplier(market.beta[symbol], shocks),
            closing=closing[:, row],
        )
    return cost


def loss_allocation(
    market: Market,
    asset: str,
    shocks: FloatArray,
    losses: FloatArray,
    sources: tuple[WeightSource, QueueSource],
) -> list[dict[str, Any] | None]:
    """SPEC §8.3's `allocation` of each shock's stress entry, given its one-round drawdown:
    null where there is no balance or the drawdown does not exceed it."""
    balance = market.balances.get(asset)
    allocations: list[dict[str, Any] | None] = [None] * len(shocks)
    if balance is None:
        return allocations
    shortfall = losses - max(balance, 0.0)
    chosen = np.flatnonzero(shortfall > 0.0)
    if not len(chosen):
        return allocations
    weights, queue = sources
    x, short = shocks[chosen], shortfall[chosen]
    share = weights(asset, x)
    owed = share.loss + closing_costs(market, asset, x, share.bankrupt)
    total = owed.sum(axis=(0, 1))
    fraction = np.divide(short, total, out=np.zeros_like(short), where=total > 0.0)
    need = np.ascontiguousarray(share.bankrupt[::-1] * fraction)  # from the other side
    whole = share.queued[1] <= need  # all of the queue is needed: its totals answer
    with np.errstate(divide="ignore", invalid="ignore"):
        per_contract = np.where(share.bankrupt > 0.0, owed / share.bankrupt, 0.0)[::-1]
    walked = queue(asset, x, need * ~whole)
    positions, contracts, notional = np.where(whole, share.queued, walked)
    symbols = [market.symbols[symbol] for symbol in asset_rows(market, asset)]
    for index, column in enumerate(chosen.tolist()):
        adl: dict[str, dict[str, dict[str, Any]]] = {}
        for side, row in zip(*np.nonzero(need[:, :, index] > 0.0), strict=True):
            adl.setdefault(symbols[row], {})[SIDES[side]] = {
                "positions": int(positions[side, row, index]),
                "contracts": float(contracts[side, row, index]),
                "notional": float(notional[side, row, index]),
                "covered": float(contracts[side, row, index] * per_contract[side, row, index]),
            }
        profit = float(share.profit[index])
        allocations[column] = {
            "adl": dict(sorted(adl.items())),
            "socialized": min(1.0, float(short[index]) / profit) if profit > 0.0 else 1.0,
        }
    return allocations


def walked(prefix: QueuePrefix, need: FloatArray) -> FloatArray:
    """3 (positions, contracts, notional) x 2 x rows x n taken from the queue heads of every
    process joined, in order (best score, then the larger position) until each cell's `need`
    is met."""
    sides, rows, columns = need.shape
    cells = sides * rows
    order = np.lexsort(
        (-prefix.notional, -prefix.contracts, -prefix.score, prefix.cell, prefix.column)
    )
    group = (prefix.column * cells + prefix.cell)[order]
    contracts, notional = prefix.contracts[order], prefix.notional[order]
    before = contracts_before(group, contracts)
    wanted = need.reshape(cells, columns).T.reshape(-1)[group]
    hit = wanted - before > MET * wanted  # the need was not met before this entry
    take = np.where(hit, np.clip(wanted - before, 0.0, contracts), 0.0)
    size = columns * cells
    shaped = [
        sum_by(group, weight, size).reshape(columns, sides, rows).transpose(1, 2, 0)
        for weight in (
            hit.astype(np.float64),
            take,
            notional * (take / np.where(hit, contracts, 1.0)),
        )
    ]
    return np.stack(shaped)
