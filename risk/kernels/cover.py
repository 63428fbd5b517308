"""Cover-N over a stress grid (SPEC §8.1): the two largest owner deficits per asset and shock.

At shock s every symbol's valuation factor is g[symbol, s] (the shocked multiplier, or its
inverse for an inverse contract), and margin account a's equity is

    E_a(s) = K_a + sum over its positions j of c_j * g[symbol_j, s]      (risk/fund/exposure.py)

(c_j and K_a = wallet + sum_j k_j are formed in the loop, from each position's size, prices
and contract, so the pass reads every position once.)

Its deficit is max(0, -E_a(s)) in the account's settle asset. The deficits of one owner's
margin accounts settling in one asset add up (a cross account and isolated ones alike):

    D_{o,asset}(s) = sum over a of owner o settling in asset of max(0, -E_a(s))

and the kernel keeps, per asset and shock, the largest and the second largest D: cover_1 is the
first, cover_2 their sum. One pass: positions are bucketed by margin account and margin
accounts by owner (counting sorts, linear in their number), then each owner's accounts are
valued on the grid and its per-asset totals offered to the asset's top two. Memory is the
buckets and one (assets x shocks) scratch, never an (accounts x shocks) table; only the
assets an owner touched are offered and cleared.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

Positions = tuple[
    NDArray[np.intp],  # margin account (0..A-1)
    NDArray[np.intp],  # symbol
    NDArray[np.float64],  # size (contracts, signed)
    NDArray[np.float64],  # valuation price P
    NDArray[np.float64],  # entry price EP
]
Instruments = tuple[NDArray[np.bool_], NDArray[np.float64]]  # inverse, contract size


@njit(cache=True)
def buckets(keys: NDArray[np.intp], count: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """(start, order): rows order[start[k]:start[k + 1]] have key k, in their original order."""
    start = np.zeros(count + 1, dtype=np.intp)
    for key in keys:
        start[key + 1] += 1
    for key in range(count):
        start[key + 1] += start[key]
    fill = start[:-1].copy()
    order = np.empty(len(keys), dtype=np.intp)
    for row in range(len(keys)):
        key = keys[row]
        order[fill[key]] = row
        fill[key] += 1
    return start, order


@njit(cache=True)
def top_two_deficits(
    wallet: NDArray[np.float64],
    account_asset: NDArray[np.intp],
    owner: NDArray[np.intp],
    positions: Positions,
    instruments: Instruments,
    g: NDArray[np.float64],
    assets: int,
) -> NDArray[np.float64]:
    """top[asset, rank, s]: the largest (rank 0) and second largest (rank 1) owner deficit
    D_{o,asset}(s); 0 where fewer owners owe anything."""
    top = np.zeros((assets, 2, g.shape[1]))
    owners = int(owner.max()) + 1 if len(owner) else 0
    position_start, position_order = buckets(positions[0], len(wallet))
    owner_start, owner_order = buckets(owner, owners)
    scratch = np.zeros((assets, g.shape[1]))
    touched = np.zeros(assets, dtype=np.bool_)
    held = np.empty(assets, dtype=np.intp)  # the assets the current owner touched
    equity = np.empty(g.shape[1])
    for holder in range(owners):
        if owner_start[holder + 1] - owner_start[holder] == 1:  # most owners: one account
            account = owner_order[owner_start[holder]]
            first, last = position_start[account], position_start[account + 1]
            _equity_on_grid(
                wallet[account], position_order[first:last], positions, instruments, g, equity
            )
            _offer_equity(top[account_asset[account]], equity)
            continue
        count = 0
        for slot in range(owner_start[holder], owner_start[holder + 1]):
            account = owner_order[slot]
            first, last = position_start[account], position_start[account + 1]
            _equity_on_grid(
                wallet[account], position_order[first:last], positions, instruments, g, equity
            )
            asset = account_asset[account]
            for shock in range(g.shape[1]):
                if equity[shock] < 0.0:
                    scratch[asset, shock] -= equity[shock]
            if not touched[asset]:
                touched[asset] = True
                held[count] = asset
                count += 1
        for index in range(count):
            asset = held[index]
            _offer(top[asset], scratch[asset])
            touched[asset] = False
    return top


@njit(cache=True, inline="always")
def _equity_on_grid(
    wallet: float,
    rows: NDArray[np.intp],
    positions: Positions,
    instruments: Instruments,
    g: NDArray[np.float64],
    equity: NDArray[np.float64],
) -> None:
    """equity[s] = K_a + sum_j c_j * g[symbol_j, s] for one margin account's positions `rows`:
    linear c = q * P, k = -q * EP; inverse c = -q / P, k = q / EP; q = size * contract size."""
    symbols, size, price, entry = positions[1], positions[2], positions[3], positions[4]
    inverse, contract_size = instruments
    constant = wallet
    shocks = g.shape[1]
    for shock in range(shocks):
        equity[shock] = 0.0
    for row in rows:
        symbol = symbols[row]
        quantity = size[row] * contract_size[symbol]
        if inverse[symbol]:
            slope = -quantity / price[row]
            constant += quantity / entry[row]
        else:
            slope = quantity * price[row]
            constant -= quantity * entry[row]
        for shock in range(shocks):
            equity[shock] += slope * g[symbol, shock]
    for shock in range(shocks):
        equity[shock] += constant


@njit(cache=True)
def _offer_equity(top: NDArray[np.float64], equity: NDArray[np.float64]) -> None:
    """Insert one margin account's deficits max(0, -equity) into the running top two."""
    for shock in range(len(equity)):
        value = -equity[shock]
        if value > top[1, shock]:
            if value > top[0, shock]:
                top[1, shock] = top[0, shock]
                top[0, shock] = value
            else:
                top[1, shock] = value


@njit(cache=True)
def _offer(top: NDArray[np.float64], deficit: NDArray[np.float64]) -> None:
    """Insert one owner's deficits into the running top two, shock by shock, and clear them."""
    for shock in range(len(deficit)):
        value = deficit[shock]
        deficit[shock] = 0.0
        if value > top[0, shock]:
            top[1, shock] = top[0, shock]
            top[0, shock] = value
        elif value > top[1, shock]:
            top[1, shock] = value
