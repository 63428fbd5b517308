"""The installed package (the Docker image's `pip install .`) carries every module."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_directory_is_listed_for_setuptools() -> None:
    """A package missing from `[tool.setuptools] packages` is absent from the wheel: the image
    then fails at import (risk.fund once did)."""
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    roots = sorted({name.split(".")[0] for name in listed})
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for root in roots
        for init in (REPO / root).rglob("__init__.py")
    }
    assert roots == ["dashboards", "risk", "streams"]
    assert found == listed
