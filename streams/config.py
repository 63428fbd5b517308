"""The engine's configuration file (TOML): instruments and level thresholds.

Read once at the edge; the core receives validated `Instrument`s and `Thresholds` and never
sees the file. Format: docs/ENGINE.md, "Configuration file".
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from risk.events import InstrumentEvent, Rejection, parse_event
from risk.instruments import Instrument
from risk.levels import Thresholds

_LEVEL_KEYS = ("watch", "margin_call", "liquidation", "hysteresis")


class ConfigError(Exception):
    """A configuration that cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class EngineConfig:
    instruments: tuple[Instrument, ...]
    thresholds: Thresholds


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
    thresholds = _thresholds(document.get("levels", {}), origin)
    entries = document.get("instruments", [])
    if not isinstance(entries, list):
        raise ConfigError(f"config {origin}: [[instruments]] must be an array of tables")
    instruments = tuple(_instrument(entry, index, origin) for index, entry in enumerate(entries))
    return EngineConfig(instruments, thresholds)


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
