"""`riskmon replay` end to end: vectors, determinism, bad input, exit status (SPEC §10)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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


FUND_KEYS = [  # a `funds` entry of the summary (SPEC §10), in order
    "asset",
    "balance",
    "drawdown_8h",
    "stress",
    "depletion_shock_down",
    "depletion_shock_up",
    "cascade_depletion_shock_down",
    "cascade_depletion_shock_up",
    "monte_carlo",
    "recommended_balance",
    "funding_gap",
]
# 1 long at 100 with 10, then mark 100.5: equity(x) = 10.5 + 100.5 x. The fund fell from
# 1,000 to 3.3.
FUND_LINES = [
    *GOOD_LINES[:4],
    {"type": "fund", "asset": "USDT", "balance": 1_000.0, "ts": 4},
    {"type": "fund", "asset": "USDT", "balance": 3.3, "ts": 5},
    {"type": "mark", "symbol": "BTCUSDT", "price": 100.5, "ts": 6},
]


def test_summary_fund_sections(tmp_path: Path) -> None:
    events = write_lines(tmp_path / "fund.jsonl", [json.dumps(line) for line in FUND_LINES])
    config = btc_config(
        tmp_path,
        "[fund]\nshocks = [-0.1, -0.15, 0.2]\npaths = 100\nhorizons_hours = [1, 0.5]\n"
        "adl_top = 1\n",
    )
    _, summary = replay(tmp_path, events, "--config", str(config))
    (fund,) = summary["funds"]
    assert list(fund) == FUND_KEYS
    owed = 100.5 * 0.15 - 10.5  # a alone owes at -15%: its Cover-1 and Cover-2
    # At -10% a keeps 0.45 of equity under 90.45 * 0.005 of maintenance: the cascade
    # liquidates it, at no loss. No depth: no price impact, one round, the one-round figures.
    calm = {
        "drawdown": 0.0,
        "rounds": 0,
        "liquidated_accounts": 0,
        "mark_moves": {},
        "multiplier": None,
    }
    # At -15% the fund of 3.3 falls short of a's 4.575 and no one is in profit: no short to
    # deleverage, and a haircut of everything there is.
    nobody = {"positions": 0, "contracts": 0.0, "notional": 0.0, "covered": 0.0}
    assert fund["stress"] == [
        {"shock": -0.1, "drawdown": 0.0, "bankrupt_accounts": 0, "cover_1": 0.0, "cover_2": 0.0,
         "cascade": {**calm, "rounds": 1, "liquidated_accounts": 1}, "allocation": None},
        {"shock": -0.15, "drawdown": pytest.approx(owed, rel=1e-12), "bankrupt_accounts": 1,
         "cover_1": pytest.approx(owed, rel=1e-12), "cover_2": pytest.approx(owed, rel=1e-12),
         "cascade": {"drawdown": pytest.approx(owed, rel=1e-12), "rounds": 1,
                     "liquidated_accounts": 1, "mark_moves": {}, "multiplier": 1.0},
         "allocation": {"adl": {"BTCUSDT": {"short": nobody}}, "socialized": 1.0}},
        {"shock": 0.2, "drawdown": 0.0, "bankrupt_accounts": 0, "cover_1": 0.0, "cover_2": 0.0,
         "cascade": calm, "allocation": None},
    ]  # fmt: skip
    # No 24 h horizon: the largest Cover-2 with |x| <= 0.3 alone sizes the fund.
    assert fund["recommended_balance"] == pytest.approx(owed, rel=1e-12)
    assert fund["funding_gap"] == pytest.approx(owed - 3.3, rel=1e-12)
    assert fund["balance"] == 3.3
    assert fund["drawdown_8h"] == pytest.approx(3.3 / 1_000 - 1, rel=1e-12)
    assert fund["depletion_shock_down"] == -0.1374  # 100.5 |x| - 10.5 >= 3.3 from 0.13731
    assert fund["depletion_shock_up"] is None
    assert fund["cascade_depletion_shock_down"] == -0.1374  # no depth: the same
    assert fund["cascade_depletion_shock_up"] is None
    assert [stats["horizon"] for stats in fund["monte_carlo"]] == ["1h", "0.5h"]
    assert summary["adl"] == {
        "BTCUSDT": {
            "long": [
                {
                    "margin_account": "a/cross/USDT",
                    "score": (0.5 / 100) * (100.5 / 10.5),
                    "quintile": 5,
                }
            ],
            "short": [],
        }
    }
    (band,) = [band for band in summary["liquidation_map"]["BTCUSDT"] if band["long_notional"]]
    # Liquidation at 10 + (P - 100) = 0.005 P: P = 90 / 0.995 = 90.45, 9.998% below 100.5.
    assert band == {"band": [-0.1, -0.09], "long_notional": 100.5, "short_notional": 0.0}


def test_report_has_a_line_per_fund(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = write_lines(tmp_path / "fund.jsonl", [json.dumps(line) for line in FUND_LINES])
    assert main(["replay", str(events), "--out", str(tmp_path / "out"), "--report"]) == 0
    fund = [line for line in capsys.readouterr().err.splitlines() if line.startswith("fund")]
    # A fall of 20% costs 20.1 - 10.5 = 9.6.
    assert fund[0].startswith(
        "fund USDT: balance 3.3; 8h drawdown -99.7%; a 20% gap down costs 9.6 (1 accounts owe);"
        " gone at a gap of -13.74%; P(depleted in 24h) "
    )
    assert len(fund) == 1


def test_fund_out_has_a_record_per_asset_at_every_epoch(tmp_path: Path) -> None:
    lines = [
        *GOOD_LINES[:4],
        {"type": "fund", "asset": "USDT", "balance": 5.0, "ts": 4},
        {"type": "mark", "symbol": "BTCUSDT", "price": 100.5, "ts": 1_500},  # epoch 1,000
        {"type": "position", "account": "b", "symbol": "BTCUSDT", "size": -1,
         "entry_price": 100.5, "mode": "isolated", "margin": 1.0, "ts": 1_600},
        {"type": "mark", "symbol": "BTCUSDT", "price": 90.0, "ts": 1_700},  # -10.4%: epoch 1,701
        {"type": "mark", "symbol": "BTCUSDT", "price": 91.0, "ts": 2_500},  # epoch 2,000
    ]  # fmt: skip
    events = write_lines(tmp_path / "fund.jsonl", [json.dumps(line) for line in lines])
    config = btc_config(tmp_path, "[fund]\nprojection_interval_ms = 1000\npaths = 50\n")
    fund_out = tmp_path / "fund-records.jsonl"
    replay(tmp_path, events, "--config", str(config), "--fund-out", str(fund_out))
    records = [json.loads(line) for line in fund_out.read_text().splitlines()]
    assert [(record["ts"], record["asset"]) for record in records] == [
        (999, "USDT"),
        (1_700, "USDT"),
        (1_999, "USDT"),
    ]
    first, moved, _ = records
    assert list(first) == ["ts", *FUND_KEYS, "adl", "liquidation_map"]
    # At epoch 1,000: only a's long at mark 100 with 10: equity(x) = 10 + 100 x.
    assert first["depletion_shock_down"] == -0.15  # 100 |x| - 10 >= 5
    assert first["adl"] == {"BTCUSDT": {"long": [], "short": []}}
    # At 1,701, just after the fall to 90: a owes nothing yet (equity 0), b is short and
    # profitable; the fund is gone at a fall of 5 / 90 more.
    assert moved["depletion_shock_down"] == -0.0556
    (entry,) = moved["adl"]["BTCUSDT"]["short"]
    assert entry["margin_account"] == "b/isolated/BTCUSDT"


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
