"""A partition task in memory: what one round owes Kafka, and its checkpoint read back."""

from __future__ import annotations

import json
from typing import Any

import orjson

from risk.fund.snapshot import Market, take_market
from streams.config import load_config, parse_config
from streams.kafka.checkpoints import Checkpoint
from streams.kafka.inputs import MemoryRecord as Record
from streams.kafka.outputs import CURSOR_KEY
from streams.kafka.task import PartitionTask
from tests.streamgen import config_text, generate_stream
from tests.streams.test_fund_live import typed

CONFIG = load_config(None)


def record(event: dict[str, Any] | bytes | None, offset: int = 0) -> Record:
    value = event if isinstance(event, bytes | type(None)) else json.dumps(event).encode()
    return Record("t", 0, offset, 0, b"k", value)


MARK: dict[str, Any] = {"type": "mark", "symbol": "BTCUSDT", "price": 60000, "ts": 1}
BALANCE: dict[str, Any] = {
    "type": "balance",
    "account": "a",
    "asset": "USDT",
    "wallet": 700,
    "ts": 2,
}
POSITION: dict[str, Any] = {
    "type": "position",
    "account": "a",
    "symbol": "BTCUSDT",
    "size": 1,
    "entry_price": 60000,
    "ts": 3,
}
CRASH: dict[str, Any] = {"type": "mark", "symbol": "BTCUSDT", "price": 59500, "ts": 4}


def test_a_round_collects_transitions_state_and_cursor() -> None:
    task = PartitionTask(0, CONFIG, {}, Checkpoint())
    for number, event in enumerate((MARK, BALANCE, POSITION, CRASH)):
        task.apply(record(event, number), event["type"], broadcast=event["type"] == "mark")
    output = task.drain_output()
    assert [t.event_id for t in output.transitions] == ["a/cross/USDT#1"]
    assert output.transitions[0].to_level == "liquidation"  # equity 200 < MM 247.5
    keys = {tuple(orjson.loads(key)) for key in output.changelog}
    assert keys == {
        ("mark", "BTCUSDT"),
        ("balance", "a", "USDT"),
        ("position", "a", "BTCUSDT", "both"),
        ("level", "a/cross/USDT"),
        ("projection", "ewma"),  # the fund projection's volatility state (BTCUSDT seen)
        ("projection", "covariance", "0"),
        ("cursor",),
    }
    assert (
        orjson.loads(output.changelog[b'["mark","BTCUSDT"]'] or b"")["price"] == 59500
    )  # the latest
    assert orjson.loads(output.changelog[b'["level","a/cross/USDT"]'] or b"") == {
        "level": "liquidation",
        "count": 1,
    }
    assert output.events == 4
    assert task.drain_output().changelog == {}  # nothing new: not even a cursor


def test_a_checkpoint_rebuilds_the_task() -> None:
    task = PartitionTask(0, CONFIG, {}, Checkpoint())
    for number, event in enumerate((MARK, BALANCE, POSITION, CRASH)):
        task.apply(record(event, number), event["type"], broadcast=event["type"] == "mark")
    entries = {key: value for key, value in task.drain_output().changelog.items() if value}
    rebuilt = PartitionTask(0, CONFIG, {}, Checkpoint.from_entries(entries))
    index = rebuilt.engine.find_margin_account("a/cross/USDT")
    assert index is not None
    view = rebuilt.engine.account_view(index)
    assert (view.level, view.equity) == ("liquidation", 700 - 500)
    assert rebuilt.engine.replay_time == 4
    recover = {**MARK, "price": 61000, "ts": 5}
    rebuilt.apply(record(recover), "mark", broadcast=True)
    (transition,) = rebuilt.drain_output().transitions
    assert (transition.event_id, transition.from_level) == ("a/cross/USDT#2", "liquidation")


def test_rejections_go_to_the_dlq_and_broadcast_ones_only_from_partition_zero() -> None:
    bad_mark = {"type": "mark", "symbol": "BTCUSDT", "price": -1, "ts": 1}
    bad_position = {**POSITION, "account": "a/b"}
    for partition, letters in ((0, 3), (1, 2)):
        task = PartitionTask(partition, CONFIG, {}, Checkpoint())
        task.apply(record(bad_mark, 7), "mark", broadcast=True)
        task.apply(record(bad_position, 8), "position", broadcast=False)
        task.apply(record(None, 9), "balance", broadcast=False)
        output = task.drain_output()
        assert len(output.dead_letters) == letters - (partition == 0) + (partition == 0)
        reasons = [letter.reason for letter in output.dead_letters]
        expected = ["non-positive price"] if partition == 0 else []
        assert reasons == [*expected, "invalid account", "not a JSON object"]
        headers = dict(output.dead_letters[-1].headers())
        assert headers == {
            "reason": b"not a JSON object",
            "topic": b"t",
            "partition": b"0",
            "offset": b"9",
        }
        assert output.rejects["not a JSON object"] == 1
        # a broadcast is counted once in the whole group: by partition 0's task
        assert output.rejects["non-positive price"] == (partition == 0)
        assert output.outcomes[("mark", "rejected")] == (partition == 0)
        assert CURSOR_KEY in output.changelog
        assert len(output.changelog) == 1  # rejections change no state


def test_stale_events_are_counted_not_forwarded() -> None:
    task = PartitionTask(0, CONFIG, {}, Checkpoint())
    task.apply(record(BALANCE), "balance", broadcast=False)
    task.apply(record({**BALANCE, "ts": 1, "wallet": 5}), "balance", broadcast=False)
    output = task.drain_output()
    assert output.dead_letters == []
    assert output.outcomes[("balance", "stale")] == 1


def markets_at_epochs(task: PartitionTask) -> list[tuple[int, Market]]:
    found: list[tuple[int, Market]] = []
    engine = task.engine
    engine.watch_epochs(lambda at: found.append((at, take_market(engine, at))))
    return found


def test_a_checkpoint_keeps_the_fund_projection_history() -> None:
    """A task rebuilt mid-stream from its changelog projects exactly as one that never
    stopped: fund balances of the window, EWMA covariance, epoch clock."""
    lines, instruments = generate_stream(19, 1200)
    config = parse_config(
        config_text(instruments) + "\n[fund]\nprojection_interval_ms = 30000\n", "t"
    )
    events = [(line, kind) for line in lines if (kind := typed(line)) is not None]
    steady = PartitionTask(0, config, {}, Checkpoint())
    steady_epochs: list[tuple[int, Any]] = []
    steady.engine.watch_epochs(
        lambda at: steady_epochs.append((at, take_market(steady.engine, at)))
    )
    halted = PartitionTask(0, config, {}, Checkpoint())
    entries: dict[bytes, bytes] = {}
    half = len(events) // 2
    for number, (line, kind) in enumerate(events):
        steady.apply(record(line.encode(), number), kind, broadcast=False)
        if number < half:
            halted.apply(record(line.encode(), number), kind, broadcast=False)
            if number % 97 == 0:  # rounds of uneven size
                entries.update({k: v for k, v in halted.drain_output().changelog.items() if v})
        if number == half - 1:
            entries.update({k: v for k, v in halted.drain_output().changelog.items() if v})
            halted = PartitionTask(0, config, {}, Checkpoint.from_entries(entries))
            halted_epochs = markets_at_epochs(halted)
    for number, (line, kind) in enumerate(events[half:], start=half):
        halted.apply(record(line.encode(), number), kind, broadcast=False)
    assert (
        steady.engine.volatility.covariance.tolist() == halted.engine.volatility.covariance.tolist()
    )
    assert steady.engine.fund_ledger.snapshot() == halted.engine.fund_ledger.snapshot()
    assert steady.engine.projection_clock() == halted.engine.projection_clock()
    later = [(at, market) for at, market in steady_epochs if at >= halted_epochs[0][0]]
    assert [at for at, _ in later] == [at for at, _ in halted_epochs]
    assert len(later) >= 3
    for (_, mine), (_, theirs) in zip(later, halted_epochs, strict=True):
        assert mine.covariance.tolist() == theirs.covariance.tolist()
        assert (mine.balances, mine.drawdowns) == (theirs.balances, theirs.drawdowns)
