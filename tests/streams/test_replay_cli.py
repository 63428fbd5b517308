"""`riskmon replay` end to end: vectors, determinism, bad input, exit status (SPEC §10)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from streams.cli import main
from tests.streams.replay_runs import (
    BAD_LINES,
    BTC,
    GOOD_LINES,
    REPO,
    SAMPLE,
    btc_config,
    replay,
    write_lines,
)


def test_shared_vectors_reproduce(tmp_path: Path, vectors_dir: Path) -> None:
    _, summary = replay(tmp_path, vectors_dir / "venue_examples.jsonl")
    expected = json.loads((vectors_dir / "venue_examples.expected.json").read_text())
    assert summary["levels"] == expected["levels"]
    assert summary["events"] == expected["events"]
    accounts = {account["margin_account"]: account for account in summary["accounts"]}
    assert sorted(accounts) == sorted(expected["accounts"])
    for identity, wanted in expected["accounts"].items():
        account = accounts[identity]
        assert account["level"] == wanted["level"], identity
        for field in ("margin_ratio", "equity", "maintenance_margin"):
            assert account[field] == pytest.approx(wanted[field], rel=1e-6), (identity, field)
        prices = {position["symbol"]: position for position in account["positions"]}
        for symbol, wanted_prices in wanted["positions"].items():
            for field, value in wanted_prices.items():
                assert prices[symbol][field] == pytest.approx(value, rel=1e-6), (identity, field)


def test_two_replays_give_identical_bytes(tmp_path: Path) -> None:
    outputs = []
    for run in ("first", "second"):
        out, summary = tmp_path / f"{run}.jsonl", tmp_path / f"{run}.json"
        assert main(["replay", str(SAMPLE), "--out", str(out), "--summary", str(summary)]) == 0
        outputs.append((out.read_bytes(), summary.read_bytes()))
    assert outputs[0] == outputs[1]
    assert outputs[0][0].count(b"\n") > 50, "the sample should produce many transitions"


def test_sample_reaches_every_level(tmp_path: Path) -> None:
    records, summary = replay(tmp_path, SAMPLE)
    reached = {record["to"] for record in records}
    assert reached == {"safe", "watch", "margin_call", "liquidation", "bankrupt"}
    assert summary["events"]["rejected"] == 6
    assert summary["events"]["stale"] == 2


def test_bad_lines_are_counted_and_the_rest_is_processed(tmp_path: Path) -> None:
    good = [json.dumps(line) for line in GOOD_LINES]
    clean_records, clean_summary = replay(tmp_path, write_lines(tmp_path / "clean.jsonl", good))
    mixed: list[str] = []
    expected_rejects = []
    for index, line in enumerate(good):
        mixed.append(line)
        if index < len(BAD_LINES):
            mixed.append(BAD_LINES[index][0])
            expected_rejects.append({"line": len(mixed), "reason": BAD_LINES[index][1]})
    for bad, reason in BAD_LINES[len(good) :]:
        mixed.append(bad)
        expected_rejects.append({"line": len(mixed), "reason": reason})
    records, summary = replay(tmp_path, write_lines(tmp_path / "mixed.jsonl", mixed))
    assert summary["rejects"] == expected_rejects
    assert summary["events"] == {"accepted": len(good), "rejected": len(BAD_LINES), "stale": 0}
    assert records == clean_records
    assert summary["accounts"] == clean_summary["accounts"]
    assert [(record["from"], record["to"]) for record in records] == [
        ("safe", "margin_call"),
        ("margin_call", "bankrupt"),
    ]


def test_blank_lines_are_skipped_and_line_numbers_stay_physical(tmp_path: Path) -> None:
    lines = [json.dumps(BTC), "", "   ", "{oops"]
    _, summary = replay(tmp_path, write_lines(tmp_path / "blank.jsonl", lines))
    assert summary["events"] == {"accepted": 1, "rejected": 1, "stale": 0}
    assert summary["rejects"] == [{"line": 4, "reason": "invalid json"}]


def test_transitions_go_to_stdout_without_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = write_lines(tmp_path / "good.jsonl", [json.dumps(line) for line in GOOD_LINES])
    assert main(["replay", str(events)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == ["a/cross/USDT#1", "a/cross/USDT#2"]


def test_summary_shape(tmp_path: Path) -> None:
    events = write_lines(tmp_path / "good.jsonl", [json.dumps(line) for line in GOOD_LINES])
    _, summary = replay(tmp_path, events)
    assert list(summary) == [
        "events",
        "rejects",
        "levels",
        "accounts",
        "funds",
        "adl",
        "liquidation_map",
    ]
    (account,) = summary["accounts"]
    assert list(account) == [
        "margin_account",
        "account",
        "mode",
        "settle",
        "wallet",
        "equity",
        "maintenance_margin",
        "margin_ratio",
        "level",
        "positions",
    ]
    # Bankrupt at mark 89: equity = 10 + (89 - 100) = -1, ratio null.
    assert account["equity"] == pytest.approx(-1.0, rel=1e-12)
    assert account["margin_ratio"] is None
    assert account["level"] == "bankrupt"


def failing(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    return error


def test_missing_events_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = failing(["replay", str(tmp_path / "absent.jsonl")], capsys)
    assert "cannot read" in error
    assert "absent.jsonl" in error


def test_events_path_that_is_a_directory_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "cannot read" in failing(["replay", str(tmp_path)], capsys)


def test_missing_config_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    error = failing(["replay", str(SAMPLE), "--config", str(tmp_path / "none.toml")], capsys)
    assert "cannot read config" in error


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[levels\n", "not valid TOML"),
        ("[levels]\nwatch = 0.9\nmargin_call = 0.8\n", "0 < watch < margin_call < liquidation"),
        ("[levels]\nwarn = 0.9\n", "unknown [levels] key 'warn'"),
        (
            '[[instruments]]\nsymbol = "X"\nkind = "linear"\nsettle = "USDT"\n'
            "tiers = [{cap = 10, mmr = 0.02}, {mmr = 0.01}]\n",
            "instrument X: invalid tiers: mmr must not decrease",
        ),
        (
            '[[instruments]]\nsymbol = "X"\nkind = "futures"\nsettle = "USDT"\n',
            "instrument X: invalid kind",
        ),
        ("fund = 3\n", "[fund] must be a table"),
        ("[fund]\nlambda = 0.9\n", "unknown [fund] key 'lambda'"),
        ("[fund]\npaths = 1.5\n", "fund.paths must be an integer"),
        ("[fund]\ndecay = 1.5\n", "fund: decay must be in (0, 1)"),
        ("[fund]\nshocks = []\n", "fund.shocks must be a non-empty array of numbers"),
        ("[fund]\nshocks = [0.1, 0]\n", "shocks must be non-zero finite fractions"),
        ('[fund]\nconfidence = "high"\n', "fund.confidence must be a number"),
    ],
)
def test_invalid_config_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    assert message in failing(["replay", str(SAMPLE), "--config", str(config)], capsys)


def test_unwritable_output_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "missing-dir" / "out.jsonl"
    assert "cannot write" in failing(["replay", str(SAMPLE), "--out", str(out)], capsys)


def test_config_thresholds_change_levels(tmp_path: Path) -> None:
    events = write_lines(tmp_path / "good.jsonl", [json.dumps(line) for line in GOOD_LINES[:5]])
    config = btc_config(tmp_path, "[levels]\nwatch = 0.1\nmargin_call = 0.2\nliquidation = 0.9\n")
    records, _ = replay(tmp_path, events, "--config", str(config))
    # Ratio 0.05 at open stays safe; ratio 0.905 at mark 90.5 is past 0.9: liquidation.
    assert [(record["from"], record["to"]) for record in records] == [("safe", "liquidation")]


def test_a_full_output_device_is_a_write_error(capsys: pytest.CaptureFixture[str]) -> None:
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("no /dev/full on this system")
    error = failing(["replay", str(SAMPLE), "--out", str(full)], capsys)
    assert "cannot write /dev/full" in error


def test_a_small_output_failing_on_close_is_a_write_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("no /dev/full on this system")
    events = write_lines(tmp_path / "good.jsonl", [json.dumps(line) for line in GOOD_LINES])
    # Two short records stay in the write buffer until the file is closed.
    assert "cannot write /dev/full" in failing(["replay", str(events), "--out", str(full)], capsys)


def test_a_reader_that_stops_early_is_not_an_error(tmp_path: Path) -> None:
    """`riskmon replay ... | head -1`: the replay still finishes, quietly, summary included."""
    summary = tmp_path / "summary.json"
    command = [
        sys.executable,
        "-m",
        "streams.cli",
        "replay",
        str(SAMPLE),
        "--summary",
        str(summary),
    ]
    with subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as replay_process:
        assert replay_process.stdout is not None
        assert replay_process.stderr is not None
        first = replay_process.stdout.readline()
        replay_process.stdout.close()  # as `head -1` does
        errors = replay_process.stderr.read()
        assert replay_process.wait(timeout=120) == 0
    assert json.loads(first)["event_id"]
    assert errors == b""
    assert len(json.loads(summary.read_text())["accounts"]) > 0
