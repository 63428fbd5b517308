"""An isolated margin account reopened after its instrument changed settle asset."""

from __future__ import annotations

from typing import Any

from risk import Engine, Transition, parse_event
from risk.events import InstrumentEvent


def apply(engine: Engine, event: dict[str, Any]) -> tuple[Transition, ...]:
    outcome = engine.apply(parse_event(event))
    assert outcome.status == "accepted", outcome
    return outcome.transitions


def test_reopened_isolated_account_takes_the_new_settle_asset() -> None:
    definition = {"type": "instrument", "symbol": "X", "kind": "linear", "settle": "USDT"}
    parsed = parse_event(definition)
    assert isinstance(parsed, InstrumentEvent)
    engine = Engine([parsed.instrument])
    isolated = {
        "type": "position",
        "account": "a",
        "symbol": "X",
        "entry_price": 100.0,
        "mode": "isolated",
    }
    apply(engine, {**isolated, "size": 1.0, "margin": 50.0, "ts": 1})
    apply(engine, {**isolated, "size": 0.0, "ts": 2})
    apply(engine, {**definition, "settle": "USDC"})
    # 1 X at 100 with margin 0.6: equity 0.6, MM = 100 * 0.005 = 0.5, ratio 0.833: margin_call.
    (record,) = apply(engine, {**isolated, "size": 1.0, "margin": 0.6, "ts": 3})
    assert record.settle == "USDC"
    assert record.margin_account == "a/isolated/X"
    assert engine.account_view(engine.tracked_accounts()[0]).settle == "USDC"
