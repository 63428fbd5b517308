"""Insurance fund balances and their drawdown over a window of event time (SPEC §8).

    drawdown = (balance - peak) / peak   (<= 0)

where `peak` is the highest balance in force at any moment of the window (now - window, now],
counting the balance already in force when the window opened. A peak <= 0 has no meaningful
ratio and gives None.
"""

from __future__ import annotations

from collections import deque


class FundLedger:
    """The balance history of every settle asset's fund, trimmed to the window."""

    __slots__ = ("history", "version", "window_ms")

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.history: dict[str, deque[tuple[int, float]]] = {}
        self.version = 0  # changes with every record: what a checkpoint must rewrite

    def record(self, asset: str, ts: int, balance: float) -> None:
        """A `fund` event; per asset, `ts` never decreases (the engine drops older ones)."""
        self.history.setdefault(asset, deque()).append((ts, balance))
        self.version += 1

    def assets(self) -> list[str]:
        return sorted(self.history)

    def balance(self, asset: str) -> float | None:
        entries = self.history.get(asset)
        return entries[-1][1] if entries else None

    def drawdown(self, asset: str, now: int) -> float | None:
        """(balance - peak) / peak over (now - window, now]; None without a positive peak.

        Entries that ended before the window opened are dropped for good, so `now` must not
        decrease between calls (the engine passes its replay time).
        """
        entries = self.history.get(asset)
        if not entries:
            return None
        opened = now - self.window_ms
        while len(entries) > 1 and entries[1][0] <= opened:
            entries.popleft()  # replaced before the window opened: never in force inside it
        peak = max(balance for _, balance in entries)
        if peak <= 0.0:
            return None
        return min(0.0, (entries[-1][1] - peak) / peak)

    def snapshot(self) -> dict[str, list[list[float]]]:
        """The retained history, for a checkpoint: [ts, balance] pairs per asset."""
        return {
            asset: [[ts, balance] for ts, balance in entries]
            for asset, entries in self.history.items()
        }

    def restore(self, history: dict[str, list[list[float]]]) -> None:
        self.history = {
            asset: deque((int(ts), float(balance)) for ts, balance in entries)
            for asset, entries in history.items()
        }
