"""The scalar reference reproduces the venue vectors, so agreement with it means something."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reference import reference_replay
from tests.reference_input import ReferenceConfig


def test_reference_reproduces_shared_vectors(vectors_dir: Path) -> None:
    lines = (vectors_dir / "venue_examples.jsonl").read_bytes().splitlines()
    expected = json.loads((vectors_dir / "venue_examples.expected.json").read_text())
    _, summary = reference_replay(lines, ReferenceConfig())
    assert summary["levels"] == expected["levels"]
    assert summary["events"] == expected["events"]
    accounts = {account["margin_account"]: account for account in summary["accounts"]}
    for identity, wanted in expected["accounts"].items():
        assert accounts[identity]["level"] == wanted["level"]
        for field in ("margin_ratio", "equity", "maintenance_margin"):
            assert accounts[identity][field] == pytest.approx(wanted[field], rel=1e-6)
        prices = {p["symbol"]: p for p in accounts[identity]["positions"]}
        for symbol, fields in wanted["positions"].items():
            for field, value in fields.items():
                assert prices[symbol][field] == pytest.approx(value, rel=1e-6), (identity, field)
