"""A closed stdout pipe (`riskmon replay | head`) is the reader's choice, not an error."""

from __future__ import annotations

import os
import sys


def silence_stdout() -> None:
    """Send the rest of stdout, and the final flush at exit, to /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
