"""The vectorized engine agrees with the scalar reference on random streams (1e-9 relative).

Streams mix cross, isolated, hedge, inverse, closes, mode switches, stale and bad lines
(tests/streamgen.py); the engine runs through `riskmon replay` in-process.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.cli import main
from tests.reference import ReferenceConfig, reference_replay
from tests.streamgen import config_text, generate_stream

TOLERANCE = 1e-9
EXACT_RECORD_FIELDS = (
    "event_id",
    "margin_account",
    "account",
    "mode",
    "settle",
    "from",
    "to",
    "trigger",
    "ts",
)
EXACT_POSITION_FIELDS = ("symbol", "position_side", "size", "entry_price", "mark_price")
ACCOUNT_NUMBERS = ("equity", "maintenance_margin", "margin_ratio")
POSITION_MONEY = ("notional", "unrealized_pnl", "maintenance_margin")
POSITION_PRICES = ("liquidation_price", "bankruptcy_price")


def engine_replay(
    lines: list[str], instruments: list[dict[str, Any]], directory: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    events, config = directory / "events.jsonl", directory / "config.toml"
    out, summary = directory / "out.jsonl", directory / "summary.json"
    events.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    config.write_text(config_text(instruments), encoding="utf-8")
    argv = [
        "replay",
        str(events),
        "--config",
        str(config),
        "--out",
        str(out),
        "--summary",
        str(summary),
    ]
    assert main(argv) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return records, json.loads(summary.read_text(encoding="utf-8"))


def close(left: float | None, right: float | None, scale: float) -> bool:
    if left is None or right is None:
        return left is None and right is None
    return abs(left - right) <= TOLERANCE * max(abs(left), abs(right), scale)


def account_scale(account: dict[str, Any]) -> float:
    """The magnitude an incrementally maintained sum of this account can carry error against."""
    wallet: float = abs(account.get("wallet") or 0.0)
    gross: float = sum(abs(p["notional"]) + abs(p["unrealized_pnl"]) for p in account["positions"])
    return wallet + gross


def differences(
    engine: dict[str, Any], reference: dict[str, Any], fields: tuple[str, ...]
) -> list[str]:
    scale = account_scale(reference)
    found = [
        f"{name}: {engine[name]} != {reference[name]}"
        for name in fields
        if not close(engine[name], reference[name], scale)
    ]
    if len(engine["positions"]) != len(reference["positions"]):
        return [*found, "positions differ in number"]
    for mine, theirs in zip(engine["positions"], reference["positions"], strict=True):
        found += [
            f"{theirs['symbol']} {name}: {mine[name]} != {theirs[name]}"
            for name in EXACT_POSITION_FIELDS
            if mine[name] != theirs[name]
        ]
        found += [
            f"{theirs['symbol']} {name}: {mine[name]} != {theirs[name]}"
            for name in POSITION_MONEY
            if not close(mine[name], theirs[name], scale)
        ]
        price_scale = theirs["mark_price"] or theirs["entry_price"]
        found += [
            f"{theirs['symbol']} {name}: {mine[name]} != {theirs[name]}"
            for name in POSITION_PRICES
            if not close(mine[name], theirs[name], price_scale)
        ]
    return found


def assert_agree(seed: int, n_events: int) -> None:
    lines, instruments = generate_stream(seed, n_events)
    expected, expected_summary = reference_replay(lines, ReferenceConfig(instruments=instruments))
    with tempfile.TemporaryDirectory() as directory:
        records, summary = engine_replay(lines, instruments, Path(directory))
    for index, (mine, theirs) in enumerate(zip(records, expected, strict=False)):
        exact = [name for name in EXACT_RECORD_FIELDS if mine[name] != theirs[name]]
        problems = exact + differences(mine, theirs, ACCOUNT_NUMBERS)
        assert not problems, f"seed {seed}, record {index}: {problems}\n{mine}\n{theirs}"
    assert len(records) == len(expected), f"seed {seed}: {len(records)} != {len(expected)}"
    for name in ("events", "rejects", "levels"):
        assert summary[name] == expected_summary[name], f"seed {seed}: {name}"
    for mine, theirs in zip(summary["accounts"], expected_summary["accounts"], strict=True):
        exact = [
            name
            for name in ("margin_account", "mode", "settle", "level")
            if mine[name] != theirs[name]
        ]
        problems = exact + differences(mine, theirs, ("wallet", *ACCOUNT_NUMBERS))
        assert not problems, f"seed {seed}, account {theirs['margin_account']}: {problems}"


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_engine_agrees_with_reference_on_random_streams(seed: int) -> None:
    assert_agree(seed, 400)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2024, 987654321])
def test_engine_agrees_with_reference_on_long_streams(seed: int) -> None:
    assert_agree(seed, 3000)


def test_streams_reach_every_level_and_every_reason() -> None:
    lines, instruments = generate_stream(7, 3000)
    records, summary = reference_replay(lines, ReferenceConfig(instruments=instruments))
    assert {record["to"] for record in records} == {
        "safe",
        "watch",
        "margin_call",
        "liquidation",
        "bankrupt",
    }
    assert {record["trigger"].split(":")[0] for record in records} >= {
        "mark",
        "position",
        "balance",
        "close",
    }
    assert summary["events"]["stale"] > 20
    reasons = {reject["reason"] for reject in summary["rejects"]}
    assert len(reasons) >= 20, reasons
    assert any(account["mode"] == "isolated" for account in summary["accounts"])
