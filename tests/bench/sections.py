"""Each benchmark script owns one marked section of BENCHMARKS.md and rewrites only that."""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, text: str, start: str, end: str) -> None:
    """Replace the text between `start` and `end` (markers included) or append it."""
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in current and end in current:
        head, rest = current.split(start, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        current = head + text + tail
    else:
        current = current.rstrip("\n") + "\n\n" + text
    path.write_text(current)
