"""The engine's configuration file (TOML): instruments, levels, fund projection, retention.

Read once at the edge; the core receives validated `Instrument`s and `Thresholds` and never
sees the file. Format: docs/ENGINE.md, "Configuration file".
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from risk.engine import Engine
from risk.events import InstrumentEvent, Rejection, parse_event
from risk.fund import FundParameters
from risk.instruments import Instrument
from risk.levels import Thresholds
from risk.retention import HOUR_MS, Retention
from risk.sharding import Sharding

_LEVEL_KEYS = ("watch", "margin_call", "liquidation", "hysteresis")
_FUND_INTEGERS = (
    "drawdown_window_ms",
    "bar_ms",
    "paths",
    "seed",
    "adl_top",
    "projection_interval_ms",
)
_FUND_NUMBERS = ("decay", "prior_daily_volatility", "confidence", "large_move", "plausible_shock")
_TABLES = ("levels", "instruments", "fund", "retention")


class ConfigError(Exception):
    """A configuration that cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class EngineConfig:
    instruments: tuple[Instrument, ...]
    thresholds: Thresholds
    fund: FundParameters = field(default_factory=FundParameters)
    retention: Retention = field(default_factory=Retention)

    def engine(self, sharding: Sharding | None = None) -> Engine:
        """A fresh engine with this configuration (one shard unless `sharding` is given)."""
        return Engine(self.instruments, self.thresholds, self.fund, self.retention, sharding)


def load_config(path: Path | None) -> EngineConfig:
    """Load `path`, or the shipped default instrument set when `path` is None."""
    if path is None:
        text = resources.files("streams.data").joinpath("instruments.toml").read_text("utf-8")
        return parse_config(text, "default instruments")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config {path}: {_reason(error)}") from None
    return parse_config(text, str(path))


def parse_config(text: str, origin: str) -> EngineConfig:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config {origin} is not valid TOML: {error}") from None
    return config_of(document, origin)


def config_of(document: dict[str, Any], origin: str) -> EngineConfig:
    """The configuration a parsed TOML (or JSON) document describes."""
    unknown = sorted(set(document) - set(_TABLES))
    if unknown:
        raise ConfigError(f"config {origin}: unknown table {unknown[0]!r}")
    thresholds = _thresholds(document.get("levels", {}), origin)
    entries = document.get("instruments", [])
    if not isinstance(entries, list):
        raise ConfigError(f"config {origin}: [[instruments]] must be an array of tables")
    instruments = tuple(_instrument(entry, index, origin) for index, entry in enumerate(entries))
    fund = _fund(document.get("fund", {}), origin)
    return EngineConfig(
        instruments, thresholds, fund, _retention(document.get("retention", {}), origin)
    )


def _thresholds(levels: Any, origin: str) -> Thresholds:
    if not isinstance(levels, dict):
        raise ConfigError(f"config {origin}: [levels] must be a table")
    unknown = sorted(set(levels) - set(_LEVEL_KEYS))
    if unknown:
        raise ConfigError(f"config {origin}: unknown [levels] key {unknown[0]!r}")
    values = {}
    for key, value in levels.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config {origin}: levels.{key} must be a number")
        values[key] = float(value)
    try:
        return Thresholds(**values)
    except ValueError as error:
        raise ConfigError(f"config {origin}: {error}") from None


def _fund(table: Any, origin: str) -> FundParameters:
    """The optional [fund] table (docs/FUND.md); absent keys keep their defaults."""
    if not isinstance(table, dict):
        raise ConfigError(f"config {origin}: [fund] must be a table")
    known = {item.name for item in fields(FundParameters)} - {"horizons"} | {"horizons_hours"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"config {origin}: unknown [fund] key {unknown[0]!r}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        values[key] = _fund_value(key, value, origin)
    if "horizons_hours" in values:
        hours = values.pop("horizons_hours")
        values["horizons"] = tuple((f"{hour:g}h", round(hour * HOUR_MS)) for hour in hours)
    try:
        return FundParameters(**values)
    except ValueError as error:
        raise ConfigError(f"config {origin}: fund: {error}") from None


def _retention(table: Any, origin: str) -> Retention:
    """The optional [retention] table: `horizon_hours`, a positive finite number (SPEC §13)."""
    if not isinstance(table, dict):
        raise ConfigError(f"config {origin}: [retention] must be a table")
    unknown = sorted(set(table) - {"horizon_hours"})
    if unknown:
        raise ConfigError(f"config {origin}: unknown [retention] key {unknown[0]!r}")
    if "horizon_hours" not in table:
        return Retention()
    hours = _number(table["horizon_hours"], "retention.horizon_hours", origin)
    if not math.isfinite(hours) or round(hours * HOUR_MS) <= 0:
        raise ConfigError(f"config {origin}: retention.horizon_hours must be positive and finite")
    return Retention(round(hours * HOUR_MS))


def _fund_value(key: str, value: Any, origin: str) -> Any:
    if key in _FUND_INTEGERS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config {origin}: fund.{key} must be an integer")
        return value
    if key in _FUND_NUMBERS:
        return _number(value, f"fund.{key}", origin)
    if not isinstance(value, list) or not value:
        raise ConfigError(f"config {origin}: fund.{key} must be a non-empty array of numbers")
    return tuple(_number(item, f"fund.{key}", origin) for item in value)


def _number(value: Any, name: str, origin: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"config {origin}: {name} must be a number")
    return float(value)


def _instrument(entry: Any, index: int, origin: str) -> Instrument:
    if not isinstance(entry, dict):
        raise ConfigError(f"config {origin}: instruments[{index}] must be a table")
    parsed = parse_event({**entry, "type": "instrument"})
    if isinstance(parsed, Rejection):
        name = entry.get("symbol", f"#{index}")
        raise ConfigError(f"config {origin}: instrument {name}: {parsed.reason}")
    assert isinstance(parsed, InstrumentEvent)
    return parsed.instrument


def _reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)
