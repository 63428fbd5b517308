"""The demo's monitor: the simulator's events through a worker's partition task.

Each step's events are encoded as JSON and handed to `PartitionTask.apply_records`, the path
Kafka records take in a worker (decode, engine, transitions, dead letters, counters). The
monitor is the metrics `Source` of `streams.observability.metrics`, so `/metrics` serves the
workers' families, with the simulated clock as "now" (mark age is then simulated seconds).
Fund projections are taken at the engine's epochs like a worker's (a copy in the loop) and
computed by `project`, which the runner calls in a thread.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final

import orjson
from prometheus_client.registry import CollectorRegistry

from risk.engine import Engine
from risk.fund.projection import aggregate_projection
from risk.fund.share import EpochShare
from risk.fund.snapshot import BookShare, Market, take_market, take_share
from risk.levels import Level
from streams.config import EngineConfig
from streams.demo.scenarios import Scenario
from streams.demo.simulator import MarketSimulator
from streams.kafka.checkpoints import Checkpoint
from streams.kafka.inputs import MemoryRecord
from streams.kafka.outputs import Tally
from streams.kafka.task import PartitionTask
from streams.observability.metrics import register_metrics, register_runtime

RECENT_TRANSITIONS: Final = 200
HISTORY_POINTS: Final = 720
TAKEN_OVER: Final = (Level.LIQUIDATION, Level.BANKRUPT)


class Monitor(Tally):
    """Engine, simulator and what the live view, the page and `/metrics` read."""

    def __init__(self, config: EngineConfig, scenario: Scenario, accounts: int, seed: int) -> None:
        self.task = PartitionTask(0, config, {}, Checkpoint())
        self.engine: Engine = self.task.engine
        self.simulator = MarketSimulator(config.instruments, scenario, accounts, seed)
        Tally.__init__(self)
        self.rounds = 0
        self.restores = 0
        self.events = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_TRANSITIONS)
        self.history: list[tuple[int, dict[str, int]]] = []
        self.history_stride = 1  # steps per history point; doubles when the history is full
        self.steps = 0
        self.flagged: dict[str, None] = {}  # margin accounts for the liquidation desk, in order
        self.pending: tuple[Market, BookShare] | None = None
        self.latest: dict[str, Any] | None = None
        self.start_ts = 0
        self.now_ts = 0
        self.registry = CollectorRegistry(auto_describe=True)
        self.metrics = register_metrics(self.registry, self, clock=lambda: self.now_ts / 1000)
        register_runtime(self.registry)
        self.engine.watch_epochs(self._on_epoch)

    # -- the metrics Source --------------------------------------------------------------------

    def engines(self) -> list[Engine]:
        return [self.engine]

    def fund_projection(self) -> dict[str, Any] | None:
        return self.latest

    def lag(self) -> dict[str, int]:
        return {}

    # -- simulation ----------------------------------------------------------------------------

    def open(self, ts: int) -> None:
        """Feed the opening book at `ts`."""
        self.start_ts = self.now_ts = ts
        self.feed(self.simulator.opening(ts))
        self._remember(ts)

    def step(self, ts: int) -> None:
        """The liquidation desk takes over last step's flagged accounts, then marks move."""
        self.now_ts = ts
        self.feed(self._take_overs(ts))
        self.feed(self.simulator.advance(ts))
        self.sweeper.run([self.engine])  # the reconciliation sweep, as a worker runs it
        self.steps += 1
        if self.steps % self.history_stride == 0:
            self._remember(ts)

    def _remember(self, ts: int) -> None:
        """Levels at `ts` into the history, which keeps the whole run in at most
        HISTORY_POINTS points: when full, every other point goes and the stride doubles."""
        self.history.append((ts, self.engine.level_counts()))
        if len(self.history) >= HISTORY_POINTS:
            self.history = self.history[::2]
            self.history_stride *= 2

    def feed(self, events: list[dict[str, Any]]) -> None:
        """Apply `events` through the partition task; count as a worker's commit does."""
        task, records = self.task, []
        for event in events:
            kind = event["type"]
            value = orjson.dumps(event)
            record = MemoryRecord(f"demo.{kind}", 0, self.events, event.get("ts", 0), None, value)
            self.events += 1
            records.append((record, kind, task.partition))
        task.apply_records(records)
        output = task.drain_output()
        self.rounds += 1
        self.count_published(output, self.metrics.evaluation)
        for transition in output.transitions:
            self.recent.appendleft(transition.as_record())
            if Level[transition.to_level.upper()] in TAKEN_OVER:
                self.flagged[transition.margin_account] = None

    @property
    def transitions(self) -> int:
        return self.transitions_published

    def _take_overs(self, ts: int) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        flagged = list(self.flagged)[: self.simulator.desk_capacity()]
        for margin_account in flagged:
            del self.flagged[margin_account]
            index = self.engine.find_margin_account(margin_account)
            if index is None:
                continue
            view = self.engine.account_view(index)
            if Level[view.level.upper()] in TAKEN_OVER:
                events += self.simulator.take_over(margin_account, view.equity, ts)
        return events

    # -- fund projections ----------------------------------------------------------------------

    def _on_epoch(self, at: int) -> None:
        self.pending = (take_market(self.engine, at), take_share(self.engine))

    def take_pending(self) -> tuple[Market, BookShare] | None:
        pending, self.pending = self.pending, None
        return pending

    @staticmethod
    def project(market: Market, share: BookShare) -> dict[str, Any]:
        """The projection of one epoch (blocking: the runner calls it in a thread)."""
        return aggregate_projection(market, [EpochShare.of(market, [share])])
