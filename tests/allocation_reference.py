"""A slow scalar reference of loss allocation (SPEC §8.3, docs/FUND.md "Loss allocation").

Standard library only, no code shared with `risk/`: every account is valued position by
position at the shocked prices, its deficit carried by its losing positions (by notional when
none loses), each side's slippage walked level by level (tests/slippage_reference.py), and each ADL
queue built in full and ranked by a plain sort before it is walked contract by contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.slippage_reference import shocked_price, slippage

if TYPE_CHECKING:
    from tests.reference import Reference

SIDES = ("long", "short")


def allocation(
    reference: Reference,
    accounts: list[dict[str, Any]],
    asset: str,
    x: float,
    *,
    balance: float | None,
    loss: float,
) -> dict[str, Any] | None:
    """The stress entry's `allocation` at shock x, given its one-round drawdown `loss`."""
    if balance is None or loss - max(balance, 0.0) <= 0.0:
        return None
    shortfall = loss - max(balance, 0.0)
    owed: dict[tuple[str, str], float] = {}  # (symbol, side of the bankrupt) -> money
    bankrupt: dict[tuple[str, str], float] = {}
    queues: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    profit = 0.0
    for account in accounts:
        if account["settle"] != asset:
            continue
        valued = [_valued(reference, position, x) for position in account["members"]]
        equity = account["wallet"] + sum(pnl for _, _, pnl, _ in valued)
        if equity < 0.0:
            losing = sum(max(0.0, -pnl) for _, _, pnl, _ in valued)
            notional = sum(value for _, _, _, value in valued)
            for key, contracts, pnl, value in valued:
                part = max(0.0, -pnl) / losing if losing > 0.0 else value / notional
                owed[key] = owed.get(key, 0.0) - equity * part
                bankrupt[key] = bankrupt.get(key, 0.0) + contracts
        elif equity > 0.0:
            for position, (key, contracts, pnl, value) in zip(
                account["members"], valued, strict=True
            ):
                if pnl > 0.0:
                    profit += pnl
                    entry_notional = reference.value(position, position["entry"])[0]
                    score = (pnl / entry_notional) * (value / equity)
                    queues.setdefault(key, []).append((score, contracts, value))
    for (symbol, side), contracts in bankrupt.items():
        signed = contracts * (1.0 if side == "long" else -1.0)
        owed[symbol, side] += slippage(reference, symbol, signed, x)
    total = sum(owed.values())
    adl: dict[str, dict[str, dict[str, Any]]] = {}
    for (symbol, side), contracts in sorted(bankrupt.items()):
        other = SIDES[1 - SIDES.index(side)]
        need = contracts * shortfall / total
        taken = _walk(queues.get((symbol, other), []), need)
        if need > 0.0:
            adl.setdefault(symbol, {})[other] = {
                **taken,
                "covered": taken["contracts"] * owed[symbol, side] / contracts,
            }
    return {
        "adl": dict(sorted(adl.items())),
        "socialized": min(1.0, shortfall / profit) if profit > 0.0 else 1.0,
    }


def _valued(
    reference: Reference, position: dict[str, Any], x: float
) -> tuple[tuple[str, str], float, float, float]:
    """((symbol, side), contracts, uPnL, notional) at the shocked price."""
    notional, pnl, _ = reference.value(position, shocked_price(reference, position, x))
    side = "long" if position["size"] > 0 else "short"
    return (position["symbol"], side), abs(position["size"]), pnl, notional


def _walk(queue: list[tuple[float, float, float]], need: float) -> dict[str, Any]:
    """Best score first, the larger position first at equal scores, until `need` contracts."""
    positions, contracts, notional = 0, 0.0, 0.0
    for _, size, value in sorted(queue, key=lambda entry: (-entry[0], -entry[1], -entry[2])):
        if need - contracts <= 1e-9 * need:  # met, up to rounding
            break
        take = min(size, need - contracts)
        positions += 1
        contracts += take
        notional += value * take / size
    return {"positions": positions, "contracts": contracts, "notional": notional}
