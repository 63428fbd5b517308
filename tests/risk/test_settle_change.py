"""A defined symbol keeps its kind and settle asset: a change is refused even with no positions.

Workers each hold some accounts, so a rule that looked at open positions would let one worker
accept a redefinition that another refuses (docs/ENGINE.md).
"""

from __future__ import annotations

from typing import Any

from risk import Engine, parse_event
from risk.engine import Outcome
from risk.events import InstrumentEvent


def apply(engine: Engine, event: dict[str, Any]) -> Outcome:
    return engine.apply(parse_event(event))


def test_a_settle_change_is_refused_after_the_last_position_closed() -> None:
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
    assert apply(engine, {**isolated, "size": 1.0, "margin": 50.0, "ts": 1}).status == "accepted"
    assert apply(engine, {**isolated, "size": 0.0, "ts": 2}).status == "accepted"
    refused = apply(engine, {**definition, "settle": "USDC"})
    assert (refused.status, refused.reason) == ("rejected", "instrument kind or settle change")
    # 1 X at 100 with margin 0.6: equity 0.6, MM = 100 * 0.005 = 0.5, ratio 0.833: margin_call.
    (record,) = apply(engine, {**isolated, "size": 1.0, "margin": 0.6, "ts": 3}).transitions
    assert (record.settle, record.margin_account) == ("USDT", "a/isolated/X")
    assert record.to_level == "margin_call"
