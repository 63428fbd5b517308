"""Grafana dashboards as code: `python -m dashboards.generate` writes dashboards/*.json.

Three dashboards over SPEC §11's metrics (docs/STREAMS.md, "Metrics"): the insurance fund,
liquidation pressure and pipeline health. Plain dicts in Grafana's dashboard JSON model; the
datasource is the provisioned Prometheus (uid `prometheus`,
deploy/grafana/provisioning/datasources). tests/test_dashboards.py checks that the committed
JSON is what this writes and that every query names metrics the factory registers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

HERE: Final = Path(__file__).resolve().parent
DATASOURCE: Final = {"type": "prometheus", "uid": "prometheus"}
WIDTH: Final = 24


def target(expr: str, legend: str = "", ref: str = "A") -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}


def panel(
    title: str,
    kind: str,
    targets: list[dict[str, Any]],
    *,
    unit: str = "short",
    description: str = "",
    width: int = 12,
    height: int = 8,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One panel; ids and positions are filled in by `dashboard`."""
    return {
        "title": title,
        "type": kind,
        "description": description,
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": options or {},
        "gridPos": {"w": width, "h": height},
    }


def dashboard(uid: str, title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    """Panels laid out left to right, then down, in the order given."""
    x = y = row_height = 0
    for number, item in enumerate(panels, start=1):
        width, height = item["gridPos"]["w"], item["gridPos"]["h"]
        if x + width > WIDTH:
            x, y, row_height = 0, y + row_height, 0
        item["id"] = number
        item["gridPos"] = {"x": x, "y": y, "w": width, "h": height}
        x, row_height = x + width, max(row_height, height)
    return {
        "uid": uid,
        "title": title,
        "tags": ["riskmon"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [_variable("asset", "riskmon_insurance_fund_balance", "asset")]},
        "panels": panels,
    }


def _variable(name: str, metric: str, label: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": f"label_values({metric}, {label})", "refId": name},
        "includeAll": True,
        "multi": True,
        "refresh": 2,
    }


def insurance_fund() -> dict[str, Any]:
    asset = 'asset=~"$asset"'
    return dashboard(
        "riskmon-insurance-fund",
        "riskmon: insurance fund",
        [
            panel(
                "Fund balance",
                "timeseries",
                [
                    target(
                        f"max by (asset) (riskmon_insurance_fund_balance{{{asset}}})", "{{asset}}"
                    )
                ],
            ),
            panel(
                "8 h drawdown (ADL at -30%)",
                "timeseries",
                [
                    target(
                        "min by (asset) (riskmon_insurance_fund_drawdown_ratio"
                        f'{{{asset}, window="8h"}})',
                        "{{asset}}",
                    )
                ],
                unit="percentunit",
            ),
            panel(
                "Stress curve: one round and the cascade",
                "barchart",
                [
                    target(
                        f"max by (shock) (riskmon_insurance_fund_stress_drawdown{{{asset}}})",
                        "one round",
                    ),
                    target(
                        f"max by (shock) (riskmon_insurance_fund_cascade_drawdown{{{asset}}})",
                        "cascade",
                        "B",
                    ),
                ],
                description="SPEC §8 stress grid at the latest projection, x axis the shock: "
                "every mark gapping at once, and the cascade of SPEC §8.2 (liquidations walk "
                "the depth books and move the marks, round after round).",
                options={"xField": "shock"},
            ),
            panel(
                "Cascade multiplier at -20%",
                "stat",
                [
                    target(
                        "max by (asset) (riskmon_insurance_fund_cascade_multiplier"
                        f'{{{asset}, shock="-0.2"}})',
                        "{{asset}}",
                    )
                ],
                description="Cascade drawdown over the one-round drawdown at a 20% gap down: "
                "how much the books' thinness multiplies the loss (no sample when one round "
                "costs nothing).",
            ),
            panel(
                "Cover-2 at -20% and the recommended size, against the balance",
                "timeseries",
                [
                    target(
                        f"max by (asset) (riskmon_insurance_fund_balance{{{asset}}})",
                        "{{asset}} balance",
                    ),
                    target(
                        "max by (asset) (riskmon_insurance_fund_cover"
                        f'{{{asset}, shock="-0.2", n="2"}})',
                        "{{asset}} Cover-2 at -20%",
                        "B",
                    ),
                    target(
                        f"max by (asset) (riskmon_insurance_fund_recommended_balance{{{asset}}})",
                        "{{asset}} recommended",
                        "C",
                    ),
                ],
                description="SPEC §8.1: the two accounts owing most after a 20% gap down, and "
                "the recommended fund size (Cover-2 up to plausible_shock, or the 24 h expected "
                "shortfall). Cover-2 above the balance pages: RiskmonFundCannotCoverTwoDefaults.",
            ),
            panel(
                "When the fund runs out: the socialized haircut by shock",
                "barchart",
                [
                    target(
                        f"max by (shock) (riskmon_insurance_fund_socialized_haircut{{{asset}}})",
                        "haircut",
                    )
                ],
                unit="percentunit",
                description="SPEC §8.3: at each gap the fund cannot cover, the share of every "
                "profitable account's unrealized PnL a pro-rata haircut would take to pay the "
                "shortfall (0: the fund covers it; 100%: profits are not enough). The ADL path "
                "per symbol and side is in the riskmon.fund records and GET /fund.",
                options={"xField": "shock"},
            ),
            panel(
                "Funding gap: recommended size minus balance",
                "stat",
                [
                    target(
                        "max by (asset) "
                        f"(riskmon_insurance_fund_recommended_balance{{{asset}}})"
                        " - on (asset) "
                        f"max by (asset) (riskmon_insurance_fund_balance{{{asset}}})",
                        "{{asset}}",
                    )
                ],
                description="Positive: the fund is smaller than SPEC §8.1 recommends.",
            ),
            panel(
                "Depletion shocks: the gap that empties the fund",
                "stat",
                [
                    target(
                        "max by (asset, direction) "
                        f"(riskmon_insurance_fund_depletion_shock{{{asset}}})",
                        "{{asset}} {{direction}}",
                    )
                ],
                unit="percentunit",
            ),
            panel(
                "Monte Carlo: P(fund depleted)",
                "timeseries",
                [
                    target(
                        "max by (asset, horizon) "
                        f"(riskmon_insurance_fund_depletion_probability{{{asset}}})",
                        "{{asset}} {{horizon}}",
                    )
                ],
                unit="percentunit",
            ),
            panel(
                "ADL pressure: score of the first in each queue",
                "timeseries",
                [target("max by (symbol, side) (riskmon_adl_top_score)", "{{symbol}} {{side}}")],
            ),
        ],
    )


def liquidation_pressure() -> dict[str, Any]:
    return dashboard(
        "riskmon-liquidation-pressure",
        "riskmon: liquidation pressure",
        [
            panel(
                "Margin accounts by level",
                "timeseries",
                [target("sum by (level) (riskmon_margin_accounts)", "{{level}}")],
            ),
            panel(
                "Notional at risk by symbol",
                "timeseries",
                [
                    target(
                        'sum by (symbol) (riskmon_notional_at_risk{level=~"liquidation|bankrupt"})',
                        "{{symbol}} liquidation+",
                    ),
                    target(
                        'sum by (symbol) (riskmon_notional_at_risk{level="margin_call"})',
                        "{{symbol}} margin call",
                        "B",
                    ),
                ],
            ),
            panel(
                "Transitions per second, by level reached",
                "timeseries",
                [target("sum by (to) (rate(riskmon_level_transitions_total[5m]))", "{{to}}")],
                unit="ops",
            ),
            panel(
                "Liquidation map: notional by distance of the liquidation price",
                "heatmap",
                [
                    target(
                        "sum by (band) (riskmon_liquidation_notional)",
                        "{{band}}",
                    )
                ],
                description="1% bands of distance from the mark, -10% to +10% (long and short).",
                options={"calculate": False, "yAxis": {"unit": "percentunit"}},
            ),
        ],
    )


def pipeline_health() -> dict[str, Any]:
    quantile = (
        "histogram_quantile({q}, sum by (le, trigger) "
        "(rate(riskmon_evaluation_seconds_bucket[5m])))"
    )
    return dashboard(
        "riskmon-pipeline-health",
        "riskmon: pipeline health",
        [
            panel(
                "Events per second, by type and outcome",
                "timeseries",
                [
                    target(
                        "sum by (type, outcome) (rate(riskmon_events_total[5m]))",
                        "{{type}} {{outcome}}",
                    )
                ],
                unit="ops",
            ),
            panel(
                "Rejects per second, by reason",
                "timeseries",
                [target("sum by (reason) (rate(riskmon_rejected_events_total[5m]))", "{{reason}}")],
                unit="ops",
            ),
            panel(
                "Evaluation latency (event taken to transition published)",
                "timeseries",
                [
                    target(quantile.format(q=0.5), "p50 {{trigger}}"),
                    target(quantile.format(q=0.99), "p99 {{trigger}}", "B"),
                ],
                unit="s",
            ),
            panel(
                "Mark age",
                "timeseries",
                [target("max by (symbol) (riskmon_mark_age_seconds)", "{{symbol}}")],
                unit="s",
            ),
            panel(
                "Consumer lag (records)",
                "timeseries",
                [target("sum by (topic) (riskmon_consumer_lag)", "{{topic}}")],
            ),
            panel(
                "Rebalances: partitions restored, and rounds",
                "timeseries",
                [
                    target("sum(increase(riskmon_partition_restores_total[15m]))", "restored"),
                    target("sum(rate(riskmon_worker_rounds_total[5m]))", "rounds/s", "B"),
                ],
            ),
            panel(
                "API requests refused for a missing or wrong token",
                "timeseries",
                [
                    target(
                        "sum by (instance) (rate(riskmon_http_unauthorized_total[5m]))",
                        "{{instance}}",
                    )
                ],
                unit="reqps",
            ),
        ],
    )


DASHBOARDS: Final = (insurance_fund, liquidation_pressure, pipeline_health)


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {
        f"{board['uid']}.json": json.dumps(board, indent=2, sort_keys=True) + "\n"
        for board in (build() for build in DASHBOARDS)
    }


def main() -> None:
    for name, text in render().items():
        (HERE / name).write_text(text)


if __name__ == "__main__":
    main()
