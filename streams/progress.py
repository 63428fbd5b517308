"""A progress line on stderr for long replays, shown only when stderr is a terminal."""

from __future__ import annotations

import os
from typing import BinaryIO, TextIO

MIN_BYTES = 8 * 1024 * 1024


class Progress:
    """Call with the lines read so far; prints the share of the file's bytes consumed."""

    def __init__(self, source: BinaryIO | None, total: int, stream: TextIO) -> None:
        self.source = source
        self.total = total
        self.stream = stream

    @classmethod
    def for_file(cls, source: BinaryIO, stream: TextIO) -> Progress:
        try:
            total = os.fstat(source.fileno()).st_size
        except (OSError, ValueError):
            total = 0
        active = total >= MIN_BYTES and stream.isatty()
        return cls(source if active else None, total, stream)

    def __call__(self, lines: int) -> None:
        if self.source is None:
            return
        share = min(1.0, self.source.tell() / self.total)
        self.stream.write(f"\rreplay {share:6.1%}  {lines:,} lines")
        self.stream.flush()

    def finish(self) -> None:
        if self.source is not None:
            self.stream.write("\n")
            self.stream.flush()
