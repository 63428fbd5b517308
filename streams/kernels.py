"""Tell the user while the engine's compiled kernels are prepared (`risk.engine.warmup`).

A first run on a machine compiles them, which takes seconds; later runs load numba's cache.
A notice goes to `stream` only if the wait is long enough to notice, and says what it is.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

from risk.engine.warmup import warm_up

NOTICE_AFTER_SECONDS = 2.0
"""Loading the cached kernels takes about a second in a fresh process; compiling takes ~25 s."""
NOTICE = (
    "riskmon: preparing the engine's numeric kernels (a machine's first run compiles them,"
    " about 25 s; later runs load them from numba's cache)..."
)


def prepare_kernels(stream: TextIO, notice_after: float = NOTICE_AFTER_SECONDS) -> float:
    """Warm the kernels up; returns the seconds it took. Prints NOTICE if it takes longer
    than `notice_after`, and how long it took once done."""
    noticed = threading.Event()

    def notice() -> None:
        noticed.set()
        stream.write(NOTICE + "\n")
        stream.flush()

    timer = threading.Timer(notice_after, notice)
    timer.daemon = True
    started = time.perf_counter()
    timer.start()
    try:
        warm_up()
    finally:
        timer.cancel()
    seconds = time.perf_counter() - started
    if noticed.is_set():
        stream.write(f"riskmon: kernels ready in {seconds:.1f} s\n")
        stream.flush()
    return seconds
