"""A slow scalar reference of the fund projection (SPEC §8), on `tests.reference`'s state.

Standard library only, no code shared with `risk/`: every drawdown is summed account by
account and position by position, the book is walked level by level, a depletion shock is
found by scanning |x| every 0.01 and bisecting the first step that reaches the balance, ADL
scores are ranked by a plain sort, Cover-N adds each owner's deficits in a dict and sorts
them, and liquidation prices come from the reference's own root finder. Monte Carlo is not
here (tests/risk/test_fund_montecarlo.py checks it on its own), nor, so, the expected
shortfall half of `recommended_balance`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.reference import Reference

DOWN = (-0.5, -0.4, -0.3, -0.25, -0.2, -0.15, -0.1, -0.05)
SHOCKS = DOWN + tuple(-x for x in reversed(DOWN))
WINDOW_MS = 8 * 3_600_000
FLOOR = 0.001
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


def shocked_price(reference: Reference, position: dict[str, Any], x: float) -> float:
    beta = float(reference.instruments[position["symbol"]]["beta"])
    return reference.price_of(position) * max(1.0 + beta * x, FLOOR)


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
        total += _slippage(reference, symbol, contracts if long else -contracts, x)
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


def _slippage(reference: Reference, symbol: str, quantity: float, x: float) -> float:
    book, mark = reference.books.get(symbol), reference.marks.get(symbol)
    if book is None or mark is None or quantity == 0:
        return 0.0
    instrument = reference.instruments[symbol]
    factor = max(1.0 + float(instrument["beta"]) * x, FLOOR)
    selling = quantity > 0
    levels = book[0] if selling else book[1]
    if not levels:
        return 0.0
    # value = sum of contracts * price, inverse = sum of contracts / price (unshocked prices)
    value = inverse = 0.0
    left = abs(quantity)
    for price, size in levels:
        take = min(left, size)
        value += take * price
        inverse += take / price
        left -= take
    if left > 0:
        more_value, more_inverse = _extension(levels, mark[0], left, selling)
        value, inverse = value + more_value, inverse + more_inverse
    contracts, cs = abs(quantity), float(instrument["cs"])
    spot = float(mark[0])
    if instrument["kind"] == "linear":
        gap = contracts * spot - value if selling else value - contracts * spot
        cost = cs * gap * factor
    else:
        gap = inverse - contracts / spot if selling else contracts / spot - inverse
        cost = cs * gap / factor
    return max(cost, 0.0)


def _extension(
    levels: list[list[float]], mark: float, left: float, selling: bool
) -> tuple[float, float]:
    """(sum contracts * price, sum contracts / price) of the rest past the book.

    The price line leaves the last level at `rate` per contract (a sell never below 0.1% of
    the mark). Integrated over the price p instead of the contracts (du = dp / rate):
    contracts * price over [p1, p0] is (p0^2 - p1^2) / (2 rate), contracts / price is
    ln(p0 / p1) / rate.
    """
    depth = sum(size for _, size in levels)
    last = levels[-1][0]
    rate = max(0.0, (mark - last) if selling else (last - mark)) / depth
    if rate == 0.0:
        return left * last, left / last
    if not selling:
        top = last + rate * left
        return (top * top - last * last) / (2 * rate), math.log(top / last) / rate
    floor = min(FLOOR * mark, last)
    bottom = max(last - rate * left, floor)
    flat = max(0.0, left - (last - bottom) / rate)
    value = (last * last - bottom * bottom) / (2 * rate) + flat * floor
    inverse = math.log(last / bottom) / rate + flat / floor
    return value, inverse


def depletion(
    reference: Reference, accounts: list[dict[str, Any]], asset: str, balance: float, sign: int
) -> float | None:
    limit = 9900 if sign < 0 else 100_000
    steps = list(range(100, limit + 1, 100))
    previous = 0
    for step in steps:
        if drawdown(reference, accounts, asset, sign * step / 10_000)[0] >= balance:
            low, high = previous, step
            while high - low > 1:
                middle = (low + high) // 2
                if drawdown(reference, accounts, asset, sign * middle / 10_000)[0] >= balance:
                    high = middle
                else:
                    low = middle
            return sign * high / 10_000
        previous = step
    return None


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
        stress.append(
            {
                "shock": shock,
                "drawdown": loss,
                "bankrupt_accounts": negative,
                "cover_1": cover_1,
                "cover_2": cover_2,
            }
        )
    return {
        "asset": asset,
        "balance": balance,
        "drawdown_8h": None if not history else drawdown_8h(history, reference.replay_time),
        "stress": stress,
        "depletion_shock_down": None
        if balance is None
        else depletion(reference, accounts, asset, balance, -1),
        "depletion_shock_up": None
        if balance is None
        else depletion(reference, accounts, asset, balance, +1),
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
