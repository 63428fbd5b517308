"""What the commands read and write: files with one-line errors (`CommandError`, exit status
2), and amounts for people."""

from __future__ import annotations

import json
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import BinaryIO, TextIO


class CommandError(Exception):
    """A failure the user can act on; printed as one line, exit status 2."""


def open_events(path: Path) -> BinaryIO:
    """An event file, opened for reading in binary."""
    try:
        return path.open("rb")
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from None


def output(path: Path | None) -> AbstractContextManager[TextIO]:
    """A text output file, or stdout (left open; flushed after the command)."""
    if path is None:
        return nullcontext(sys.stdout)
    try:
        return path.open("w", encoding="utf-8", newline="\n")
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror or error}") from None


def write_json(path: Path, document: dict[str, object]) -> None:
    """`document` as indented JSON (no NaN, no Infinity) at `path`."""
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror or error}") from None


def amount(value: float | None) -> str:
    """A money amount for people: thousands separated, small ones to six digits."""
    if value is None:
        return "none"
    return f"{value:,.0f}" if abs(value) >= 1_000 else f"{value:.6g}"
