"""The committed Grafana dashboards: what the generator writes, well formed, and querying
only metrics the factory registers."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from dashboards.generate import HERE, render
from tests.streams.test_metrics import exposed_names, one_worker
from tests.test_prometheus_rules import ROOT


def boards() -> dict[str, dict[str, Any]]:
    return {name: json.loads(text) for name, text in render().items()}


def test_the_committed_json_is_what_the_generator_writes() -> None:
    for name, text in render().items():
        assert (HERE / name).read_text() == text, f"run python -m dashboards.generate ({name})"
    assert sorted(path.name for path in HERE.glob("*.json")) == sorted(render())


def test_panels_are_placed_and_use_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    uid = provisioned["datasources"][0]["uid"]
    assert len(boards()) == 3
    for name, board in boards().items():
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)) >= 4, name
        for panel in board["panels"]:
            place = panel["gridPos"]
            assert place["x"] + place["w"] <= 24, (name, panel["title"])
            assert panel["datasource"]["uid"] == uid
            assert panel["targets"], panel["title"]
            assert all(target["datasource"]["uid"] == uid for target in panel["targets"])


def test_every_metric_queried_is_one_the_factory_registers() -> None:
    exposed = exposed_names(one_worker())
    used = set()
    for board in boards().values():
        for panel in board["panels"]:
            for target in panel["targets"]:
                used |= set(re.findall(r"\b(riskmon_[a-z_]+)", target["expr"]))
        for variable in board["templating"]["list"]:
            used |= set(re.findall(r"\b(riskmon_[a-z_]+)", variable["query"]["query"]))
    assert len(used) >= 15
    assert used - exposed == set()
