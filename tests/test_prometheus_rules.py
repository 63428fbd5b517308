"""The alert rules of deploy/prometheus/rules, checked and unit-tested by the real promtool
(Debian's `prometheus` package; `make test` installs it).

Each alert has a firing and a silent case. The promtool test file is written from the cases
below; the expected annotations are the rule's own, with `$labels` filled in, so a test fails
on the labels and the text an alert carries, not only on whether it fires.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.streams.test_metrics import exposed_names, one_worker
from tests.tools import required_tool

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "riskmon.yml"
USDT = 'asset="USDT"'
UP = 'job="riskmon", instance="w0:6066"'


@dataclass
class Case:
    """Series (selector -> promtool values, one sample a minute), when to look, what fires."""

    alert: str
    series: dict[str, str]
    at: str
    firing: list[dict[str, str]] = field(default_factory=list)


CASES = [
    Case(
        "RiskmonFundCannotCoverStress",
        {
            f"riskmon_insurance_fund_balance{{{USDT}}}": "100x10",
            f'riskmon_insurance_fund_stress_drawdown{{{USDT}, shock="-0.2"}}': "150x10",
            f'riskmon_insurance_fund_stress_drawdown{{{USDT}, shock="-0.1"}}': "50x10",
        },
        "5m",
        [{"asset": "USDT"}],
    ),
    Case(
        "RiskmonFundCannotCoverStress",
        {
            f"riskmon_insurance_fund_balance{{{USDT}}}": "100x10",
            f'riskmon_insurance_fund_stress_drawdown{{{USDT}, shock="-0.2"}}': "90x10",
            f'riskmon_insurance_fund_stress_drawdown{{{USDT}, shock="-0.5"}}': "500x10",
        },
        "5m",
    ),
    Case(
        "RiskmonFundCannotCoverTwoDefaults",
        {
            f"riskmon_insurance_fund_balance{{{USDT}}}": "100x10",
            f'riskmon_insurance_fund_cover{{{USDT}, shock="-0.2", n="2"}}': "120x10",
            f'riskmon_insurance_fund_cover{{{USDT}, shock="-0.2", n="1"}}': "80x10",
        },
        "5m",
        [{"asset": "USDT"}],
    ),
    Case(
        "RiskmonFundCannotCoverTwoDefaults",
        {
            f"riskmon_insurance_fund_balance{{{USDT}}}": "100x10",
            f'riskmon_insurance_fund_cover{{{USDT}, shock="-0.2", n="2"}}': "90x10",
            f'riskmon_insurance_fund_cover{{{USDT}, shock="-0.5", n="2"}}': "400x10",
        },
        "5m",
    ),
    Case(
        "RiskmonDepletionShockClose",
        {
            f'riskmon_insurance_fund_depletion_shock{{{USDT}, direction="down"}}': "-0.08x10",
            f'riskmon_insurance_fund_depletion_shock{{{USDT}, direction="up"}}': "0.4x10",
        },
        "5m",
        [{"asset": "USDT", "direction": "down"}],
    ),
    Case(
        "RiskmonDepletionShockClose",
        {f'riskmon_insurance_fund_depletion_shock{{{USDT}, direction="down"}}': "-0.15x10"},
        "5m",
    ),
    Case(
        "RiskmonFundDrawdownPage",
        {f'riskmon_insurance_fund_drawdown_ratio{{{USDT}, window="8h"}}': "-0.35x10"},
        "5m",
        [{"asset": "USDT"}],
    ),
    Case(
        "RiskmonFundDrawdownPage",
        {f'riskmon_insurance_fund_drawdown_ratio{{{USDT}, window="8h"}}': "-0.25x10"},
        "5m",
    ),
    Case(
        "RiskmonFundDrawdownWarn",
        {f'riskmon_insurance_fund_drawdown_ratio{{{USDT}, window="8h"}}': "-0.25x20"},
        "10m",
        [{"asset": "USDT"}],
    ),
    Case(
        "RiskmonFundDrawdownWarn",
        {f'riskmon_insurance_fund_drawdown_ratio{{{USDT}, window="8h"}}': "-0.1x20"},
        "10m",
    ),
    Case(
        "RiskmonFundHeadingToZero",
        {f"riskmon_insurance_fund_balance{{{USDT}}}": "1000-5x120"},  # -5 a minute
        "90m",
        [{"asset": "USDT"}],
    ),
    Case(
        "RiskmonFundHeadingToZero",
        {f"riskmon_insurance_fund_balance{{{USDT}}}": "1000-1x120"},  # gone in 16 h
        "90m",
    ),
    Case(
        "RiskmonLiquidationCascade",
        {
            'riskmon_level_transitions_total{from="margin_call", to="liquidation"}': "0+40x20",
            'riskmon_level_transitions_total{from="liquidation", to="bankrupt"}': "0+20x20",
        },
        "10m",
        [{}],
    ),
    Case(
        "RiskmonLiquidationCascade",
        {
            'riskmon_level_transitions_total{from="margin_call", to="liquidation"}': "0+10x20",
            'riskmon_level_transitions_total{from="safe", to="watch"}': "0+600x20",
        },
        "10m",
    ),
    Case(
        "RiskmonNotionalAtRiskJump",
        {
            'riskmon_notional_at_risk{symbol="BTCUSDT", level="liquidation"}': "100x20 300x20",
            'riskmon_notional_at_risk{symbol="BTCUSDT", level="watch"}': "1000x20 9000x20",
        },
        "30m",
        [{}],
    ),
    Case(
        "RiskmonNotionalAtRiskJump",
        {
            'riskmon_notional_at_risk{symbol="BTCUSDT", level="liquidation"}': "100x20 180x20",
            'riskmon_notional_at_risk{symbol="BTCUSDT", level="watch"}': "1000x20 9000x20",
        },
        "30m",
    ),
    Case(
        "RiskmonStaleMarks",
        {
            'riskmon_mark_age_seconds{symbol="BTCUSDT"}': "30x10",
            'riskmon_mark_age_seconds{symbol="ETHUSDT"}': "1x10",
        },
        "5m",
        [{"symbol": "BTCUSDT"}],
    ),
    Case("RiskmonStaleMarks", {'riskmon_mark_age_seconds{symbol="BTCUSDT"}': "2x10"}, "5m"),
    Case(
        "RiskmonRejectsRising",
        {
            'riskmon_events_total{type="mark", outcome="accepted"}': "0+100x30",
            'riskmon_rejected_events_total{reason="unknown symbol"}': "0+10x30",
        },
        "20m",
        [{}],
    ),
    Case(
        "RiskmonRejectsRising",
        {
            'riskmon_events_total{type="mark", outcome="accepted"}': "0+100x30",
            'riskmon_rejected_events_total{reason="unknown symbol"}': "0+1x30",
        },
        "20m",
    ),
    Case(
        "RiskmonApiRefusals",
        {'riskmon_http_unauthorized_total{instance="w0"}': "0+60x30"},
        "20m",
        [{}],
    ),
    Case("RiskmonApiRefusals", {'riskmon_http_unauthorized_total{instance="w0"}': "0+3x30"}, "20m"),
    Case(
        "RiskmonReconciliationStalled",
        {'riskmon_reconciliation_age_seconds{instance="w0"}': "0+30x20"},
        "10m",
        [{}],
    ),
    Case(
        "RiskmonReconciliationStalled",
        {'riskmon_reconciliation_age_seconds{instance="w0"}': "20 50 20 50 20 50 20 50 20 50"},
        "8m",
    ),
    Case(
        "RiskmonReconciliationDrift",
        {'riskmon_reconciliation_drift_total{instance="w0"}': "0x5 1x10"},
        "8m",
        [{}],
    ),
    Case(
        "RiskmonReconciliationDrift",
        {'riskmon_reconciliation_drift_total{instance="w0"}': "0x20"},
        "15m",
    ),
    Case(
        "RiskmonConsumerLagGrowing",
        {
            'riskmon_consumer_lag{topic="riskmon.positions", instance="w0"}': "20000+1000x40",
            'riskmon_consumer_lag{topic="riskmon.marks", instance="w0"}': "0x40",
        },
        "30m",
        [{"topic": "riskmon.positions"}],
    ),
    Case(
        "RiskmonConsumerLagGrowing",
        {'riskmon_consumer_lag{topic="riskmon.positions", instance="w0"}': "20000x40"},
        "30m",
    ),
    Case("RiskmonDown", {f"up{{{UP}}}": "0x10"}, "5m", [{"job": "riskmon", "instance": "w0:6066"}]),
    Case("RiskmonDown", {f"up{{{UP}}}": "1x10"}, "5m"),
    Case("RiskmonAbsent", {'up{job="prometheus"}': "1x20"}, "10m", [{"job": "riskmon"}]),
    Case("RiskmonAbsent", {f"up{{{UP}}}": "1x20"}, "10m"),
]


def promtool() -> str:
    return required_tool("promtool", package="prometheus")


def rules() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return {rule["alert"]: rule for group in document["groups"] for rule in group["rules"]}


def rendered(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda match: labels[match.group(1)], template)


def test_every_alert_has_for_severity_summary_runbook_and_both_cases() -> None:
    for name, rule in rules().items():
        assert rule.get("for"), name
        assert rule["labels"]["severity"] in ("page", "warn"), name
        assert set(rule["annotations"]) == {"summary", "runbook"}, name
        assert len(rule["annotations"]["runbook"]) > 100, name
        kinds = {bool(case.firing) for case in CASES if case.alert == name}
        assert kinds == {True, False}, name


def test_promtool_checks_the_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_fire_and_stay_silent(tmp_path: Path) -> None:
    tool, known = promtool(), rules()
    tests = []
    for case in CASES:
        rule = known[case.alert]
        alerts = [
            {
                "exp_labels": {**labels, **rule["labels"]},
                "exp_annotations": {
                    key: rendered(text, labels) for key, text in rule["annotations"].items()
                },
            }
            for labels in case.firing
        ]
        tests.append(
            {
                "interval": "1m",
                "input_series": [
                    {"series": series, "values": values} for series, values in case.series.items()
                ],
                "alert_rule_test": [
                    {"eval_time": case.at, "alertname": case.alert, "exp_alerts": alerts}
                ],
            }
        )
    document = {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": tests}
    test_file = tmp_path / "riskmon_test.yml"
    test_file.write_text(yaml.safe_dump(document, sort_keys=False))
    result = subprocess.run(
        [tool, "test", "rules", str(test_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_metric_the_rules_use_is_one_the_factory_registers() -> None:
    used = set(re.findall(r"\b(riskmon_[a-z_]+)", RULES.read_text()))
    assert used
    assert used - exposed_names(one_worker()) == set()
