"""How long the engine remembers what no longer holds a position (SPEC §13, docs/ENGINE.md).

The *watermark* is replay time minus `horizon_ms`. A closed position's stale-check entry, and
an emptied margin account, are forgotten once their last event time is at or below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

HOUR_MS: Final = 3_600_000


@dataclass(frozen=True)
class Retention:
    """The retention horizon, in milliseconds of event time (default 24 h).

    `sweep_ms` is how often (in event time) memory is physically reclaimed: a quarter of the
    horizon. The rule itself is logical, so the sweep interval changes no output.
    """

    horizon_ms: int = 24 * HOUR_MS

    def __post_init__(self) -> None:
        if isinstance(self.horizon_ms, bool) or not isinstance(self.horizon_ms, int):
            raise ValueError("horizon_ms must be an integer")
        if self.horizon_ms <= 0:
            raise ValueError("horizon_ms must be positive")

    @property
    def sweep_ms(self) -> int:
        return max(1, self.horizon_ms // 4)
