"""Shared fixtures: where the venue vectors live and small helpers for replay tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the engine's kernels once, before any test: the tests that start `riskmon` in a
    subprocess then load numba's cache, and their stderr holds no compile notice."""
    from risk.engine.warmup import warm_up

    warm_up()


def shared_directory() -> Path:
    """`../shared` beside the checkout, or RISKMON_SHARED_DIR."""
    override = os.environ.get("RISKMON_SHARED_DIR")
    return Path(override) if override else REPO.parent / "shared"


@pytest.fixture
def vectors_dir() -> Path:
    directory = shared_directory() / "vectors"
    if not directory.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"shared vectors missing at {directory}")
        pytest.skip(f"shared vectors missing at {directory}")
    return directory
