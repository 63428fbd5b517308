"""riskmon's pure core: numpy, numba (compiled kernels, risk.kernels) and the standard library
only; no clock, no I/O, no settings.

Time comes in with the events; the same engine runs in the Kafka workers, `riskmon replay` and
the embedded demo.
"""

from risk.engine import ACCEPTED, REJECTED, STALE, Engine, Outcome
from risk.events import Event, Rejection, parse_event
from risk.instruments import Instrument, TierTable
from risk.levels import Level, Thresholds
from risk.records import AccountView, PositionView, Transition

__all__ = [
    "ACCEPTED",
    "REJECTED",
    "STALE",
    "AccountView",
    "Engine",
    "Event",
    "Instrument",
    "Level",
    "Outcome",
    "PositionView",
    "Rejection",
    "Thresholds",
    "TierTable",
    "Transition",
    "parse_event",
]
