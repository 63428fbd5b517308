"""The configuration file's tables: [retention] and unknown tables (docs/ENGINE.md)."""

from __future__ import annotations

import pytest

from risk.retention import HOUR_MS, Retention
from streams.config import ConfigError, parse_config


def test_retention_defaults_to_24_hours() -> None:
    assert parse_config("", "x").retention == Retention(24 * HOUR_MS)
    assert parse_config("[retention]\n", "x").retention.horizon_ms == 24 * HOUR_MS


@pytest.mark.parametrize(
    ("hours", "ms"), [("1", HOUR_MS), ("0.5", HOUR_MS // 2), ("48", 48 * HOUR_MS)]
)
def test_retention_horizon_hours_sets_the_horizon_in_ms(hours: str, ms: int) -> None:
    config = parse_config(f"[retention]\nhorizon_hours = {hours}\n", "x")
    assert config.retention.horizon_ms == ms
    assert config.engine().retention.horizon_ms == ms


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[levelz]\nwatch = 0.4\n", "config ORIGIN: unknown table 'levelz'"),
        ("extra = 1\n", "config ORIGIN: unknown table 'extra'"),
        ("retention = 3\n", "config ORIGIN: [retention] must be a table"),
        ("[retention]\nhorizon = 1\n", "config ORIGIN: unknown [retention] key 'horizon'"),
        ('[retention]\nhorizon_hours = "1"\n', "retention.horizon_hours must be a number"),
        ("[retention]\nhorizon_hours = true\n", "retention.horizon_hours must be a number"),
        ("[retention]\nhorizon_hours = 0\n", "horizon_hours must be positive and finite"),
        ("[retention]\nhorizon_hours = -2\n", "horizon_hours must be positive and finite"),
        ("[retention]\nhorizon_hours = 1e-12\n", "horizon_hours must be positive and finite"),
        ("[retention]\nhorizon_hours = inf\n", "horizon_hours must be positive and finite"),
        ("[retention]\nhorizon_hours = nan\n", "horizon_hours must be positive and finite"),
    ],
)
def test_invalid_retention_or_table_is_a_one_line_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "ORIGIN")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_retention_rejects_a_non_positive_horizon() -> None:
    with pytest.raises(ValueError, match="positive"):
        Retention(0)
