"""SPEC §7.1 in the slow reference: effective bankruptcy prices and the partial-liquidation
plan, from scratch and standard library only (the rule is risk.kernels.liquidation's, written
down in docs/ENGINE.md; nothing here is shared with risk/).

- The effective bankruptcy price revalues the whole account at two marks of the symbol and
  subtracts the cost of the close against the book moved with the mark; the difference is
  linear in v (P or 1/P), so the secant through the two points gives its root.
- The plan revalues every position's maintenance margin from its (reduced) size after each
  trial reduction; whether a reduction of a position suffices comes from the maximum of the
  gap by ternary search, the smallest sufficient one by bisection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.reference_input import maintenance_of
from tests.slippage_reference import close_at

if TYPE_CHECKING:
    from tests.reference import Reference

PLAN_MARGIN = 1e-9
STEPS = 300
SLACK = "_close_size_slack"  # not SPEC: how far the last step's root is determined


def _root_slack(position: dict[str, Any], quantity: float, root: float, gap: Any) -> float:
    """How far (contracts) the smallest sufficient reduction can move when the gap is computed
    with another rounding: the rounding noise of this gap near the root (its scatter about a
    line at points 1e-10 of the position apart) over its slope there, ten times over. Where
    the gap nearly cancels (near its maximum, or terms much larger than it) the root is only
    determined to within that."""
    step = 1e-7 * quantity
    low, high = max(root - step, 0.0), min(root + step, quantity)
    slope = abs(gap(position, high) - gap(position, low)) / (high - low)
    near = [min(max(root + k * 1e-10 * quantity, 0.0), quantity) for k in range(-3, 4)]
    values = [gap(position, x) for x in near]
    base = gap(position, root)
    noise = max(abs(v - base - slope * (x - root)) for x, v in zip(near, values, strict=True))
    return float(10 * noise / max(slope, 1e-300))


def depth_fields(
    reference: Reference, account_id: str, members: list[dict[str, Any]]
) -> dict[str, Any]:
    """{"effective": [price or None per member], "plan": [...] or None}."""
    equity, _ = reference.money(account_id)
    return {
        "effective": [effective_price(reference, account_id, p, equity) for p in members],
        "plan": plan(reference, account_id, members, equity),
    }


def effective_price(
    reference: Reference, account_id: str, position: dict[str, Any], equity: float
) -> float | None:
    symbol = position["symbol"]
    if symbol not in reference.marks:
        return None
    mark = reference.marks[symbol][0]
    closed = close_at(reference, symbol, position["size"], 1.0)
    if closed is None:
        return None
    if equity - closed[0] <= 0:
        return mark
    inverse = reference.instruments[symbol]["kind"] == "inverse"

    def after_close(v: float) -> float:
        price = 1 / v if inverse else v
        cost = close_at(reference, symbol, position["size"], price / mark)
        assert cost is not None
        return reference.money(account_id, symbol, price)[0] - cost[0]

    first = 1 / mark if inverse else mark
    second = first * 1.5
    low, high = after_close(first), after_close(second)
    if low == high:
        return None
    root = first - low * (second - first) / (high - low)
    if root <= 1e-9 * first:
        return None
    return 1 / root if inverse else root


def plan(
    reference: Reference, account_id: str, members: list[dict[str, Any]], equity: float
) -> list[dict[str, Any]] | None:
    if equity <= 0:
        return None
    target = reference.config.margin_call * (1 - PLAN_MARGIN)
    sizes = {id(p): abs(p["size"]) for p in members}
    spent = 0.0
    steps: list[dict[str, Any]] = []

    def gap(position: dict[str, Any], contracts: float) -> float:
        cost = 0.0
        if contracts > 0:
            closed = close_at(reference, position["symbol"], _signed(position, contracts), 1.0)
            assert closed is not None
            cost = closed[0]
        maintenance = sum(
            _maintenance(reference, p, sizes[id(p)] - (contracts if p is position else 0.0))
            for p in members
        )
        return target * (equity - spent - cost) - maintenance

    if gap(members[0], 0.0) >= 0:
        return []
    margins = [reference.value(p, reference.price_of(p))[2] for p in members]
    ranked = sorted(range(len(members)), key=lambda index: -margins[index])
    for index in ranked:
        position = members[index]
        if position["symbol"] not in reference.marks:
            continue
        if close_at(reference, position["symbol"], position["size"], 1.0) is None:
            continue
        contracts, enough = _reduction(position, sizes[id(position)], gap)
        slack = _root_slack(position, sizes[id(position)], contracts, gap) if enough else 0
        if contracts > 0:
            closed = close_at(reference, position["symbol"], _signed(position, contracts), 1.0)
            assert closed is not None
            spent += closed[0]
            sizes[id(position)] -= contracts
            steps.append(
                {
                    "symbol": position["symbol"],
                    "position_side": position["side"],
                    "close_size": contracts,
                    "expected_fill_price": closed[1],
                    "slippage": closed[0],
                    SLACK: slack,
                }
            )
        if enough:
            return None if all(size == 0 for size in sizes.values()) else steps
    return None


def _reduction(position: dict[str, Any], quantity: float, gap: Any) -> tuple[float, bool]:
    """(smallest x with gap >= 0, True); without one (q, False) if closing whole raises the
    gap, else (0, False)."""
    low, high = 0.0, quantity
    for _ in range(STEPS):
        left, right = low + (high - low) / 3, high - (high - low) / 3
        if gap(position, left) < gap(position, right):
            low = left
        else:
            high = right
    best = (low + high) / 2
    if gap(position, quantity) >= gap(position, best):
        best = quantity
    if gap(position, best) < 0:
        helps = gap(position, quantity) > gap(position, 0.0)
        return (quantity if helps else 0.0), False
    low, high = 0.0, best
    for _ in range(STEPS):
        middle = (low + high) / 2
        if gap(position, middle) >= 0:
            high = middle
        else:
            low = middle
    return high, True


def _signed(position: dict[str, Any], contracts: float) -> float:
    return contracts if position["size"] > 0 else -contracts


def _maintenance(reference: Reference, position: dict[str, Any], quantity: float) -> float:
    instrument = reference.instruments[position["symbol"]]
    price = reference.price_of(position)
    cs = instrument["cs"]
    notional = quantity * cs * price if instrument["kind"] == "linear" else quantity * cs / price
    return float(maintenance_of(instrument, notional))
