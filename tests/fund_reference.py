"""A slow scalar reference of the fund projection (SPEC §8), on `tests.reference`'s state.

Standard library only, no code shared with `risk/`: every drawdown is summed account by
account and position by position, the book is walked level by level, a depletion shock is
found by docs/FUND.md's lattice search written out on its own (a drawdown need not grow with
|x|, so a scan at other steps could stop at another crossing), ADL scores are ranked by a
plain sort, Cover-N adds each owner's deficits in a dict and sorts them, a cascade (SPEC §8.2,
docs/FUND.md) runs round by round, every account valued position by position at its side's
price and each side's book walked level by level, liquidation prices come from the
reference's own root finder, and loss allocation is tests/allocation_reference.py. Monte
Carlo is not here (tests/risk/test_fund_montecarlo.py checks it on its own), nor, so, the
expected shortfall half of `recommended_balance`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.allocation_reference import allocation
from tests.slippage_reference import FLOOR, shocked_price, slippage

if TYPE_CHECKING:
    from tests.reference import Reference

DOWN = (-0.5, -0.4, -0.3, -0.25, -0.2, -0.15, -0.1, -0.05)
SHOCKS = DOWN + tuple(-x for x in reversed(DOWN))
WINDOW_MS = 8 * 3_600_000
ADL_TOP = 10


def fund_summary(reference: Reference) -> dict[str, Any]:
    accounts = _accounts(reference)
    assets = sorted({a["settle"] for a in accounts} | set(reference.fund_history))
    return {
        "funds": [_fund(reference, accounts, asset) for asset in assets],
        "adl": _adl(reference, accounts),
        "liquidation_map": _liquidation_map(reference, accounts),
    }


def _accounts(reference: Reference) -> list[dict[str, Any]]:
    result = []
    for account_id in sorted({p["ma"] for p in reference.positions.values()}):
        members = reference.members(account_id)
        result.append(
            {
                "id": account_id,
                "settle": reference.settle_of(account_id),
                "wallet": reference.wallet(account_id, members),
                "members": members,
            }
        )
    return result


def drawdown(
    reference: Reference, accounts: list[dict[str, Any]], asset: str, x: float
) -> tuple[float, int]:
    """(deficits + slippage, accounts with negative equity) at shock x."""
    total, negative = 0.0, 0
    closing: dict[tuple[str, bool], float] = {}  # (symbol, long) -> contracts
    for account in accounts:
        if account["settle"] != asset:
            continue
        equity = account["wallet"]
        for position in account["members"]:
            equity += reference.value(position, shocked_price(reference, position, x))[1]
        if equity < 0:
            total -= equity
            negative += 1
            for position in account["members"]:
                key = (position["symbol"], position["size"] > 0)
                closing[key] = closing.get(key, 0.0) + abs(position["size"])
    for (symbol, long), contracts in closing.items():
        total += slippage(reference, symbol, contracts if long else -contracts, x)
    return total, negative


def cover(
    reference: Reference, accounts: list[dict[str, Any]], asset: str, x: float
) -> tuple[float, float]:
    """(cover_1, cover_2) at shock x: deficits before slippage, summed per owning account."""
    owed: dict[str, float] = {}
    for account in accounts:
        if account["settle"] != asset:
            continue
        equity = account["wallet"]
        for position in account["members"]:
            equity += reference.value(position, shocked_price(reference, position, x))[1]
        owner = account["members"][0]["account"]
        owed[owner] = owed.get(owner, 0.0) + max(0.0, -equity)
    largest = [*sorted(owed.values(), reverse=True), 0.0, 0.0]
    return largest[0], largest[0] + largest[1]


def cascade(
    reference: Reference, accounts: list[dict[str, Any]], asset: str, x: float
) -> dict[str, Any]:
    """SPEC §8.2's `cascade` at shock x, before its multiplier: longs are valued at their
    symbol's bid-side price, shorts at its ask-side price, both the shocked mark until the
    liquidated accounts' gross contracts walk the shocked book."""
    prices: dict[tuple[str, bool], float] = {}  # (symbol, long) -> price, once walked
    previous = rounds = 0
    for round_number in range(1, 52):
        deficit, liquidated, flows = _cascade_round(reference, accounts, asset, x, prices)
        if round_number == 51 or liquidated <= previous:
            break
        rounds += 1
        found = {key: _walked(reference, key, contracts, x) for key, contracts in flows.items()}
        walked = {key: price for key, price in found.items() if price is not None}
        if walked == prices:
            break
        previous, prices = liquidated, walked
    moves = {}
    for symbol in sorted({symbol for symbol, _ in prices}):
        shocked = reference.marks[symbol][0] * _factor(reference, symbol, x)
        down = prices.get((symbol, True), shocked)
        up = prices.get((symbol, False), shocked)
        if down != shocked or up != shocked:
            farther = down if math.log(shocked / down) >= math.log(up / shocked) else up
            moves[symbol] = farther / reference.marks[symbol][0]
    return {
        "drawdown": deficit,
        "rounds": rounds,
        "liquidated_accounts": liquidated,
        "mark_moves": moves,
    }


def _cascade_round(
    reference: Reference,
    accounts: list[dict[str, Any]],
    asset: str,
    x: float,
    prices: dict[tuple[str, bool], float],
) -> tuple[float, int, dict[tuple[str, bool], float]]:
    """(deficits, accounts with equity <= maintenance, their contracts per symbol and side)."""
    deficit, liquidated = 0.0, 0
    flows: dict[tuple[str, bool], float] = {}
    for account in accounts:
        if account["settle"] != asset:
            continue
        equity, maintenance = account["wallet"], 0.0
        for position in account["members"]:
            key = (position["symbol"], position["size"] > 0)
            price = prices.get(key, shocked_price(reference, position, x))
            _, pnl, margin = reference.value(position, price)
            equity, maintenance = equity + pnl, maintenance + margin
        if equity <= maintenance:
            liquidated += 1
            deficit += max(0.0, -equity)
            for position in account["members"]:
                key = (position["symbol"], position["size"] > 0)
                flows[key] = flows.get(key, 0.0) + abs(position["size"])
    return deficit, liquidated, flows


def _factor(reference: Reference, symbol: str, x: float) -> float:
    return max(1.0 + float(reference.instruments[symbol]["beta"]) * x, FLOOR)


def _walked(
    reference: Reference, key: tuple[str, bool], contracts: float, x: float
) -> float | None:
    """The shocked price of the last level `contracts` fill on one side, level by level (past
    the book: the extension's price there); never better than the shocked mark. None without
    a book or a mark: no price impact."""
    symbol, selling = key
    book, mark = reference.books.get(symbol), reference.marks.get(symbol)
    if book is None or mark is None or contracts <= 0:
        return None
    spot, levels = float(mark[0]), book[0] if selling else book[1]
    last: float
    if not levels:
        return None
    left, last = contracts, spot
    for price, size in levels:
        take = min(left, size)
        left, last = left - take, price
        if left <= 0:
            break
    if left > 0:
        depth = sum(size for _, size in levels)
        rate = max(0.0, (spot - last) if selling else (last - spot)) / depth
        last = max(last - rate * left, min(FLOOR * spot, last)) if selling else last + rate * left
    last = min(last, spot) if selling else max(last, spot)
    return last * _factor(reference, symbol, x)


def lattice_search(loss: Callable[[float], float], balance: float, sign: int) -> float | None:
    """docs/FUND.md's search on the 1e-4 lattice, for a drawdown that need not grow with |x|
    (a cascade's, or one round's across symbols, betas and slippage): coarse steps every 0.05
    to |x| = 1 and every 0.25 beyond, then 32 equally spaced points inside the first coarse
    step that reaches, and again inside the first of those that reaches, until one step is
    left."""
    limit = 9900 if sign < 0 else 100_000
    coarse = [*range(500, min(limit, 10_000) + 1, 500), *range(12_500, limit + 1, 2_500)]
    coarse += [] if coarse[-1] == limit else [limit]
    low = 0
    for high in coarse:
        if loss(sign * high / 10_000) >= balance:
            break
        low = high
    else:
        return None
    while high - low > 1:
        inner = sorted({round(low + (high - low) * k / 32) for k in range(33)} - {low, high})
        reaching = [point for point in inner if loss(sign * point / 10_000) >= balance]
        high = reaching[0] if reaching else high
        low = max([point for point in inner if point < high], default=low)
    return float(sign * high / 10_000)


def drawdown_8h(history: list[tuple[int, float]], now: int) -> float | None:
    opened = now - WINDOW_MS
    in_force = [balance for ts, balance in history if ts > opened]
    before = [balance for ts, balance in history if ts <= opened]
    if before:
        in_force.append(before[-1])
    peak = max(in_force)
    if peak <= 0:
        return None
    return min(0.0, (history[-1][1] - peak) / peak)


def _fund(reference: Reference, accounts: list[dict[str, Any]], asset: str) -> dict[str, Any]:
    history = reference.fund_history.get(asset)
    balance = history[-1][1] if history else None
    stress = []
    for shock in SHOCKS:
        loss, negative = drawdown(reference, accounts, asset, shock)
        cover_1, cover_2 = cover(reference, accounts, asset, shock)
        entry = cascade(reference, accounts, asset, shock)
        entry["multiplier"] = entry["drawdown"] / loss if loss > 0 else None
        shared = allocation(reference, accounts, asset, shock, balance=balance, loss=loss)
        stress.append(
            {
                "shock": shock,
                "drawdown": loss,
                "bankrupt_accounts": negative,
                "cover_1": cover_1,
                "cover_2": cover_2,
                "cascade": entry,
                "allocation": shared,
            }
        )

    def one_round(x: float) -> float:
        return drawdown(reference, accounts, asset, x)[0]

    def cascaded(x: float) -> float:
        return float(cascade(reference, accounts, asset, x)["drawdown"])

    return {
        "asset": asset,
        "balance": balance,
        "drawdown_8h": None if not history else drawdown_8h(history, reference.replay_time),
        "stress": stress,
        **{
            f"{prefix}depletion_shock_{name}": None
            if balance is None
            else lattice_search(loss, balance, sign)
            for prefix, loss in (("", one_round), ("cascade_", cascaded))
            for name, sign in (("down", -1), ("up", +1))
        },
    }


def _adl(reference: Reference, accounts: list[dict[str, Any]]) -> dict[str, Any]:
    queues: dict[str, dict[str, list[tuple[float, str]]]] = {}
    for account in accounts:
        equity = account["wallet"]
        for position in account["members"]:
            equity += reference.value(position, reference.price_of(position))[1]
        for position in account["members"]:
            sides = queues.setdefault(position["symbol"], {"long": [], "short": []})
            notional, pnl, _ = reference.value(position, reference.price_of(position))
            entry_notional = reference.value(position, position["entry"])[0]
            if pnl > 0 and equity > 0:
                score = (pnl / entry_notional) * (notional / equity)
                side = "long" if position["size"] > 0 else "short"
                sides[side].append((score, account["id"]))
    result: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for symbol in sorted(queues):
        result[symbol] = {}
        for side, entries in queues[symbol].items():
            ranked = sorted(entries, key=lambda entry: (-entry[0], entry[1]))
            result[symbol][side] = [
                {"margin_account": name, "score": score, "quintile": 5 - 5 * rank // len(ranked)}
                for rank, (score, name) in enumerate(ranked[:ADL_TOP])
            ]
    return result


def _liquidation_map(reference: Reference, accounts: list[dict[str, Any]]) -> dict[str, Any]:
    cells: dict[str, dict[int, list[float]]] = {}
    for account in accounts:
        for position in account["members"]:
            symbol = position["symbol"]
            mark = reference.marks.get(symbol)
            if mark is None:
                continue
            bands = cells.setdefault(symbol, {band: [0.0, 0.0] for band in range(-10, 10)})
            price = reference.solve(account["id"], symbol, 1.0, mark[0])
            if price is None:
                continue
            band = math.floor((price / mark[0] - 1) * 100)
            if -10 <= band < 10:
                notional = reference.value(position, mark[0])[0]
                bands[band][0 if position["size"] > 0 else 1] += notional
    return {
        symbol: [
            {"band": [band / 100, (band + 1) / 100], "long_notional": v[0], "short_notional": v[1]}
            for band, v in sorted(bands.items())
        ]
        for symbol, bands in sorted(cells.items())
    }
