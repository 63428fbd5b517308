"""Shared pieces of the `riskmon replay` tests: a small BTCUSDT stream, bad lines with their
reasons, and a replay through the CLI's own entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streams.cli import main

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "sample.jsonl"

BTC = {"type": "instrument", "symbol": "BTCUSDT", "kind": "linear", "settle": "USDT"}
GOOD_LINES = [
    BTC,
    {"type": "mark", "symbol": "BTCUSDT", "price": 100.0, "ts": 1},
    {"type": "balance", "account": "a", "asset": "USDT", "wallet": 10.0, "ts": 2},
    # 1 BTC long at 100 with 10 USDT: equity 10, MM = 100 * 0.005 = 0.5, ratio 0.05 (safe).
    {
        "type": "position",
        "account": "a",
        "symbol": "BTCUSDT",
        "size": 1,
        "entry_price": 100,
        "ts": 3,
    },
    # Mark 90.5: equity = 10 - 9.5 = 0.5, MM = 90.5 * 0.005 = 0.4525, ratio 0.905: margin_call.
    {"type": "mark", "symbol": "BTCUSDT", "price": 90.5, "ts": 4},
    # Mark 89: equity = -1 <= 0: bankrupt.
    {"type": "mark", "symbol": "BTCUSDT", "price": 89.0, "ts": 5},
]
BAD_LINES = [
    ("{not json", "invalid json"),
    ("[1, 2]", "not a JSON object"),
    ('{"symbol": "BTCUSDT", "price": 1, "ts": 9}', "missing type"),
    ('{"type": "trade"}', "unknown type"),
    ('{"type": "mark", "symbol": "BTCUSDT", "price": NaN, "ts": 9}', "non-finite price"),
    ('{"type": "mark", "symbol": "BTCUSDT", "price": "-3", "ts": 9}', "non-positive price"),
    ('{"type": "mark", "symbol": "NOPEUSDT", "price": 3, "ts": 9}', "unknown symbol"),
    (
        '{"type": "position", "account": "b", "symbol": "BTCUSDT", "size": 1, "entry_price": 1,'
        ' "mode": "isolated", "ts": 9}',
        "isolated position without margin",
    ),
    ('{"type": "balance", "account": "a", "asset": "USDT", "ts": 9}', "missing wallet"),
]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def btc_config(tmp_path: Path, tables: str) -> Path:
    """A config file: `tables`, then BTCUSDT (linear, USDT, default tiers) as the only symbol."""
    config = tmp_path / "config.toml"
    instrument = '[[instruments]]\nsymbol = "BTCUSDT"\nkind = "linear"\nsettle = "USDT"\n'
    config.write_text(tables + instrument, encoding="utf-8")
    return config


def replay(tmp_path: Path, events: Path, *extra: str) -> tuple[list[dict[str, Any]], Any]:
    out, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    assert main(["replay", str(events), "--out", str(out), "--summary", str(summary), *extra]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return records, json.loads(summary.read_text())
