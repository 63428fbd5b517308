"""`riskmon replay`'s fund sections: the summary's `funds`, `adl` and `liquidation_map`, the
report line and `--fund-out` (SPEC §8, §10; docs/FUND.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.cli import main
from tests.streams.replay_runs import (
    GOOD_LINES,
    btc_config,
    replay,
    write_lines,
)

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
    # A fall of 20% costs 20.1 - 10.5 = 9.6, 6.3 more than the fund: no short to deleverage,
    # and no profit to haircut but all of it.
    assert fund[0].startswith(
        "fund USDT: balance 3.3; 8h drawdown -99.7%; a 20% gap down costs 9.6 (1 accounts owe);"
        " the fund is 6.3 short there: ADL of 0 positions or a 100.0% haircut of profits;"
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
