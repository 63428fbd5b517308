"""The replay progress line: on a terminal, for large files only, never in pipes."""

from __future__ import annotations

import io
from pathlib import Path

from streams import progress as progress_module
from streams.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def big_file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"x" * size)
    return path


def test_progress_reports_share_of_bytes_on_a_terminal(tmp_path: Path) -> None:
    path = big_file(tmp_path, progress_module.MIN_BYTES)
    terminal = Terminal()
    with path.open("rb") as source:
        progress = Progress.for_file(source, terminal)
        source.seek(progress_module.MIN_BYTES // 4)
        progress(1234)
        progress.finish()
    # A quarter of the bytes read: "25.0%", with the line count grouped by thousands.
    assert terminal.getvalue() == "\rreplay  25.0%  1,234 lines\n"


def test_progress_is_silent_when_not_a_terminal(tmp_path: Path) -> None:
    path = big_file(tmp_path, progress_module.MIN_BYTES)
    pipe = io.StringIO()
    with path.open("rb") as source:
        progress = Progress.for_file(source, pipe)
        progress(10)
        progress.finish()
    assert pipe.getvalue() == ""


def test_progress_is_silent_for_small_files(tmp_path: Path) -> None:
    path = big_file(tmp_path, 100)
    terminal = Terminal()
    with path.open("rb") as source:
        progress = Progress.for_file(source, terminal)
        progress(10)
        progress.finish()
    assert terminal.getvalue() == ""
