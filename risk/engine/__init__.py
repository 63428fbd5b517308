"""The risk engine: `apply(event) -> Outcome` over a numpy-backed book (SPEC §3-§7, §9).

Layers, each a module: `state` (the book and interned names), `evaluation` (levels and
records), `marks` (the mark path), `positions` (position and balance events), `queries`
(views, rankings, restore) and `engine` (the entry points that compose them).
"""

from risk.engine.engine import Engine
from risk.engine.state import ACCEPTED, REJECTED, STALE, Outcome

__all__ = ["ACCEPTED", "REJECTED", "STALE", "Engine", "Outcome"]
