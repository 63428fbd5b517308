"""Command-line tools the tests run that `make tools` installs from Debian's packages."""

from __future__ import annotations

import os
import shutil

import pytest


def required_tool(*names: str, package: str) -> str:
    """The path of the first of `names` on PATH. Missing: the test skips, and fails under CI
    (CI=true), where `make test` must have installed `package`."""
    for name in names:
        found = shutil.which(name)
        if found is not None:
            return found
    if os.environ.get("CI") == "true":
        pytest.fail(f"{names[0]} is missing: `make test` installs Debian's {package} package")
    pytest.skip(f"{names[0]} is not installed (make tools installs it)")
