"""cProfile summaries and their markdown tables, shared by the benchmark scripts."""

from __future__ import annotations

import cProfile
import pstats
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def profile_summary(profiler: cProfile.Profile, rows: int = 10) -> dict[str, Any]:
    """Total profiled time; the top functions by inclusive time (riskmon's own code) and by
    self time (any function, numpy's included). Rows: [label, calls, self s, inclusive s]."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values())
    entries = [[_label(key), entry[1], entry[2], entry[3]] for key, entry in stats.items()]
    own = [entry for entry in entries if str(entry[0]).startswith(("risk/", "streams/"))]
    return {
        "seconds": total,
        "inclusive": sorted(own, key=lambda entry: -entry[3])[:rows],
        "self": sorted(entries, key=lambda entry: -entry[2])[:rows],
    }


def _label(key: tuple[str, int, str]) -> str:
    filename, _, function = key
    if filename == "~":
        return function.strip("{}<>")
    path = Path(filename)
    try:
        return f"{path.resolve().relative_to(REPO)}:{function}"
    except ValueError:
        return f"{path.name}:{function}"


def profile_tables(profile: dict[str, Any], unit: str, count: float) -> list[str]:
    total = profile["seconds"]
    return [
        "| inclusive time (riskmon code) | calls | time | share |",
        "|---|---|---|---|",
        *(
            f"| `{label}` | {calls:,} | {inclusive / count * 1e3:.2f} ms/{unit} | "
            f"{inclusive / total:.0%} |"
            for label, calls, _, inclusive in profile["inclusive"]
        ),
        "",
        "| self time (any function) | calls | time | share |",
        "|---|---|---|---|",
        *(
            f"| `{label}` | {calls:,} | {own / count * 1e3:.2f} ms/{unit} | {own / total:.0%} |"
            for label, calls, own, _ in profile["self"]
        ),
    ]
