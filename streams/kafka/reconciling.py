"""The reconciliation sweep on a running process: a slice of every engine at most every
INTERVAL_SECONDS, sized so the whole book is checked about every PASS_SECONDS
(`risk.engine.reconcile`). Each repair is logged and counted
(`riskmon_reconciliation_drift_total`); `riskmon_reconciliation_age_seconds` is the age of the
oldest check, which an alert watches (RiskmonReconciliationStalled)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from typing import Final

from risk.engine import Engine

log = logging.getLogger("riskmon.reconcile")

INTERVAL_SECONDS: Final = 0.1
PASS_SECONDS: Final = 30.0  # well inside the 60 s the issue asks at 1M positions
MIN_BUDGET: Final = 4096  # work units (a position, or an account holding none): ~0.2 ms


class Sweeper:
    """Run the sweep a slice at a time; count and log what it repairs."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.drift_total = 0
        self.last = -math.inf
        self.engines: list[Engine] = []

    def run(self, engines: Iterable[Engine]) -> None:
        """One slice of each engine, when INTERVAL_SECONDS have passed since the last."""
        now = self.clock()
        if now - self.last < INTERVAL_SECONDS:
            return
        self.last, self.engines = now, list(engines)
        for engine in self.engines:
            work = len(engine.margin) + sum(len(block) for block in engine.blocks)
            budget = max(MIN_BUDGET, math.ceil(work * INTERVAL_SECONDS / PASS_SECONDS))
            for drift in engine.reconcile(now, budget).repaired:
                self.drift_total += 1
                log.warning(
                    "reconciliation repaired %s: equity off by %.6g, maintenance by %.6g "
                    "(scale %.6g)",
                    drift.margin_account, drift.equity, drift.maintenance, drift.scale,
                )  # fmt: skip

    def age(self) -> float:
        """Seconds since the oldest account of the engines last swept was checked."""
        now = self.clock()
        return max((engine.reconciliation_age(now) for engine in self.engines), default=0.0)
