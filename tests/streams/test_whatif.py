"""`riskmon whatif` (SPEC §10.1) against two `riskmon replay` runs of the same random stream.

The what-if decodes each batch once and applies it to both engines; its document must be what
the two replays' outputs and summaries say: the levels, exactly the margin accounts whose final
level differs, the transitions added and removed by (event_id, to), and the funds.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.cli import main
from tests.streamgen import config_text, generate_stream

LEVELS_BLOCKS = (
    "",
    "[levels]\nwatch = 0.4\nmargin_call = 0.7\nliquidation = 0.95\nhysteresis = 0.02\n\n",
)


def proposed_config(instruments: list[dict[str, Any]], symbol: int, factor: float) -> str:
    """The same instruments with one symbol's maintenance rates times `factor`."""
    changed = copy.deepcopy(instruments)
    tiers = changed[symbol % len(changed)].get("tiers") or [{"mmr": 0.005}]
    for tier in tiers:
        tier["mmr"] = tier["mmr"] * factor
        tier.pop("cum", None)
    changed[symbol % len(changed)]["tiers"] = tiers
    return config_text(changed)


def replay(directory: Path, events: Path, config: Path, name: str) -> tuple[list[Any], Any]:
    out, summary = directory / f"{name}.jsonl", directory / f"{name}.json"
    argv = ["replay", str(events), "--config", str(config), "--out", str(out)]
    assert main([*argv, "--summary", str(summary)]) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return records, json.loads(summary.read_text(encoding="utf-8"))


def expected_document(
    base: tuple[list[Any], Any], proposed: tuple[list[Any], Any]
) -> dict[str, Any]:
    """The what-if document as the two replays imply it."""
    levels = [
        {a["margin_account"]: (a["level"], a["margin_ratio"]) for a in summary["accounts"]}
        for _, summary in (base, proposed)
    ]
    changed = []
    for identity in sorted(levels[0].keys() | levels[1].keys()):
        before = levels[0].get(identity, ("safe", None))
        after = levels[1].get(identity, ("safe", None))
        if before[0] != after[0]:
            changed.append((identity, before[0], after[0], before[1], after[1]))
    keys = [{(r["event_id"], r["to"]) for r in records} for records, _ in (base, proposed)]
    funds = [{f["asset"]: f for f in summary["funds"]} for _, summary in (base, proposed)]
    return {
        "levels": {"base": base[1]["levels"], "proposed": proposed[1]["levels"]},
        "changed": changed,
        "transitions": {
            "base": len(base[0]),
            "proposed": len(proposed[0]),
            "added": len(keys[1] - keys[0]),
            "removed": len(keys[0] - keys[1]),
        },
        "funds": {
            asset: [
                (side.get(asset) or {}).get(name)
                for side in funds
                for name in ("depletion_shock_down", "recommended_balance")
            ]
            for asset in sorted(funds[0].keys() | funds[1].keys())
        },
    }


def _ratio_close(left: float | None, right: float | None) -> bool:
    if left is None or right is None:
        return left is None and right is None
    return left == pytest.approx(right, rel=1e-9, abs=1e-12)


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    symbol=st.integers(0, 3),
    factor=st.sampled_from((0.5, 1.5, 3.0)),
    levels=st.sampled_from(LEVELS_BLOCKS),
)
def test_whatif_equals_the_difference_of_two_replays(
    tmp_path_factory: pytest.TempPathFactory, seed: int, symbol: int, factor: float, levels: str
) -> None:
    directory = tmp_path_factory.mktemp("whatif")
    lines, instruments = generate_stream(seed, 300)
    events = directory / "events.jsonl"
    events.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    base_config, proposed = directory / "base.toml", directory / "proposed.toml"
    base_config.write_text(config_text(instruments), encoding="utf-8")
    proposed.write_text(levels + proposed_config(instruments, symbol, factor), encoding="utf-8")
    report = directory / "report.json"
    argv = ["whatif", str(events), "--config", str(proposed), "--base", str(base_config)]
    assert main([*argv, "--out", str(report)]) == 0
    document = json.loads(report.read_text(encoding="utf-8"))
    expected = expected_document(
        replay(directory, events, base_config, "base"),
        replay(directory, events, proposed, "proposed"),
    )
    assert document["levels"] == expected["levels"]
    assert document["transitions"] == expected["transitions"]
    found = document["changed_accounts"]
    assert [(a["margin_account"], a["base_level"], a["proposed_level"]) for a in found] == [
        item[:3] for item in expected["changed"]
    ]
    for account, item in zip(found, expected["changed"], strict=True):
        assert _ratio_close(account["base_margin_ratio"], item[3])
        assert _ratio_close(account["proposed_margin_ratio"], item[4])
    funds = {
        fund["asset"]: [fund[side][name] for side in ("base", "proposed") for name in (
            "depletion_shock_down", "recommended_balance"
        )]
        for fund in document["funds"]
    }  # fmt: skip
    assert funds.keys() == expected["funds"].keys()
    for asset, values in funds.items():
        for value, wanted in zip(values, expected["funds"][asset], strict=True):
            assert _ratio_close(value, wanted), (asset, values, expected["funds"][asset])


def test_whatif_of_the_same_configuration_changes_nothing(tmp_path: Path) -> None:
    lines, instruments = generate_stream(3, 300)
    events, config = tmp_path / "events.jsonl", tmp_path / "config.toml"
    events.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    config.write_text(config_text(instruments), encoding="utf-8")
    report = tmp_path / "report.json"
    argv = ["whatif", str(events), "--config", str(config), "--base", str(config)]
    assert main([*argv, "--out", str(report)]) == 0
    document = json.loads(report.read_text(encoding="utf-8"))
    assert document["changed_accounts"] == []
    counts = document["transitions"]
    assert counts["added"] == counts["removed"] == 0
    assert counts["base"] == counts["proposed"] > 0
    assert document["levels"]["base"] == document["levels"]["proposed"]


def test_whatif_report_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    argv = ["whatif", str(examples / "sample.jsonl"), "--config", str(examples / "proposed.toml")]
    assert main([*argv, "--out", str(tmp_path / "r.json"), "--report"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("what-if")]
    assert len(lines) == 1
    document = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert f"{len(document['changed_accounts'])} margin accounts change level" in lines[0]
    assert document["changed_accounts"]  # the example proposal moves some accounts


@pytest.mark.parametrize(
    ("config_text_value", "message"),
    [
        ("[[instruments]]\nsymbol = 'X'\nkind = 'linear'\nsettle = 'USDT'\n"
         "tiers = [{cap = 10, mmr = 0.02}, {mmr = 0.01}]\n", "mmr must not decrease"),
        ("[levels]\nwatch = 0.9\nmargin_call = 0.8\n", "thresholds"),
        ("not toml [", "config"),
    ],
)  # fmt: skip
def test_a_bad_proposal_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config_text_value: str, message: str
) -> None:
    proposed = tmp_path / "proposed.toml"
    proposed.write_text(config_text_value, encoding="utf-8")
    events = Path(__file__).resolve().parents[2] / "examples" / "sample.jsonl"
    assert main(["whatif", str(events), "--config", str(proposed)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1
    assert error[0].startswith("riskmon: error:")
    assert message in error[0]


def test_an_unreadable_event_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Path(__file__).resolve().parents[2] / "examples" / "proposed.toml"
    assert main(["whatif", str(tmp_path / "missing.jsonl"), "--config", str(config)]) == 2
    assert "cannot read" in capsys.readouterr().err
