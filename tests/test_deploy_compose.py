"""docker-compose.yml, as `docker compose config` resolves it (no Docker engine needed).

The client comes from `docker compose` or from `deploy/compose/install.sh` (.tools/); outside CI
the test skips when neither is there, with CI=true it must run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.settings import check_web_binding, load_settings

ROOT = Path(__file__).resolve().parents[1]


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False, timeout=60
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    built = ROOT / ".tools" / "docker-compose"
    if built.exists():
        return [str(built)]
    if os.environ.get("CI") == "true":
        pytest.fail("no docker compose client: deploy/compose/install.sh should have built one")
    pytest.skip("no docker compose client (deploy/compose/install.sh builds one)")


TOKEN = "compose-token-0123456789"


def compose_config(**riskmon: str) -> subprocess.CompletedProcess[str]:
    """`docker compose config` with no RISKMON_ variable but `riskmon`'s."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("RISKMON_")}
    return subprocess.run(
        [*compose_command(), "-f", "docker-compose.yml", "config", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=environ | riskmon,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    result = compose_config(RISKMON_API_TOKEN=TOKEN)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_the_stack_will_not_start_without_an_api_token() -> None:
    result = compose_config()
    assert result.returncode != 0
    assert "set RISKMON_API_TOKEN to a secret of 16 or more characters" in result.stderr


def test_the_stack_has_every_part(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"kafka", "worker", "prometheus", "alertmanager", "grafana"}


def test_kafka_runs_kraft_with_single_replica_internals(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    environment = kafka["environment"]
    assert environment["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert environment["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert environment["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert environment["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    assert "INTERNAL://kafka:9092" in environment["KAFKA_ADVERTISED_LISTENERS"]


def test_workers_scale_and_their_settings_load(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert Path(worker["build"]["context"]) == ROOT
    assert (ROOT / "Dockerfile").is_file()
    assert "container_name" not in worker  # `--scale worker=N` needs generated names
    assert "ports" not in worker  # ... and no fixed host port
    assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"
    settings = load_settings(worker["environment"])  # every variable is a real setting
    assert settings.bootstrap_servers == "kafka:9092"
    assert settings.web_host == "0.0.0.0"
    assert settings.web_access.token == TOKEN
    check_web_binding(settings)  # served beyond loopback, with the token


def test_mounted_files_exist_and_prometheus_finds_the_workers(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), volume["source"]
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    (discovery,) = job["dns_sd_configs"]
    assert discovery["names"] == ["worker"]
    assert discovery["port"] == load_settings({}).web_port
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"
    ]
