"""The core stays pure: numpy, numba and the standard library only (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

RISK = Path(__file__).resolve().parents[2] / "risk"
ALLOWED_THIRD_PARTY = {"numpy", "numba"}
IO_LIBRARIES = (
    "faust",
    "aiokafka",
    "confluent_kafka",
    "prometheus_client",
    "mode",
    "aiohttp",
    "orjson",
    "msgspec",
)


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_risk_modules_import_only_numpy_numba_and_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | ALLOWED_THIRD_PARTY | {"risk"}
    offenders = {
        path.name: sorted(imported_roots(path) - allowed) for path in sorted(RISK.rglob("*.py"))
    }
    assert {name: roots for name, roots in offenders.items() if roots} == {}
    assert len(offenders) >= 8, "the scan should see every module of risk/"


def test_importing_risk_loads_no_io_library() -> None:
    probe = (
        "import sys, risk, risk.engine, risk.prices, risk.kernels.valuation\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {IO_LIBRARIES!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
