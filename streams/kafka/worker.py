"""The Kafka worker: partition tasks fed in timestamp order, published in transactions.

One round: fetch what both consumers hold, let every task apply what it can order, then
publish the round's transitions, dead letters, changelog entries and input offsets in one
Kafka transaction. A crash anywhere leaves the committed state consistent: a restarted or
new owner of partition p reads p's changelog, seeks every input to the cursor stored there,
and repeats exactly the work of the aborted round (docs/STREAMS.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import Any, Final

from confluent_kafka import KafkaException, TopicPartition
from prometheus_client.registry import CollectorRegistry

from risk.engine import Engine
from streams.config import EngineConfig
from streams.kafka.assignment import Assignment
from streams.kafka.client import BROADCAST_TYPES
from streams.kafka.clients import (
    ConsumerFencedError,
    EndWatch,
    Fences,
    assign_broadcast,
    broadcast_consumer,
    discard,
    group_consumer,
    take,
    transactional_producer,
)
from streams.kafka.holding import Holding
from streams.kafka.holdings import Holdings
from streams.kafka.inputs import BroadcastLog, OwnSource
from streams.kafka.librdkafka import (
    REQUEST_TIMEOUT_SECONDS,
    blocking,
    high_watermark,
    translate,
    until_stopped,
)
from streams.kafka.outputs import Output, Tally, produce_outputs
from streams.kafka.projections import FundDesk
from streams.kafka.routing import Directory
from streams.kafka.snapshots import SnapshotWriter
from streams.observability.metrics import register_metrics, register_runtime
from streams.settings import Settings

log = logging.getLogger("riskmon.worker")

IDLE_SECONDS: Final = 0.005
COMMIT_TIMEOUT_SECONDS: Final = 10.0  # then a fresh producer fences the stuck one
PAUSE_ABOVE: Final = 50_000  # buffered records of one input partition
RESUME_BELOW: Final = 10_000


class Worker(Assignment, Tally):
    """Owns the consumers, the transactional producer and the partition tasks."""

    def __init__(self, settings: Settings, config: EngineConfig) -> None:
        self.settings = settings
        self.config = config
        topics = settings.topics
        self.own_types = {topics.positions: "position", topics.balances: "balance"}
        by_type = topics.by_type()
        self.broadcast_topics = {by_type[kind]: kind for kind in BROADCAST_TYPES}
        self.fund = FundDesk()
        self.holdings = Holdings(config, self._watch)
        self.pending: set[int] = set()
        self.lock = asyncio.Lock()
        self.log = BroadcastLog()
        self.broadcast_types: dict[tuple[str, int], str] = {}
        self.broadcast_from: dict[tuple[str, int], int] = {}
        self.horizons: dict[tuple[str, int], int | None] = {}
        self.sought: dict[tuple[str, int], int] = {}
        self.ends: dict[tuple[str, int], int] = {}
        self.paused: set[TopicPartition] = set()
        Tally.__init__(self)
        self.rounds = self.restores = 0
        self.url = settings.web_url
        self.directory = Directory(settings, topics.positions)
        self.end_watch = EndWatch(settings)
        self.background: list[asyncio.Task[None]] = []
        self.producer = transactional_producer(settings)
        self.broadcast = broadcast_consumer(settings)
        self.group = group_consumer(settings)
        self.fences = Fences(settings.worker_id)
        self.stopping = asyncio.Event()  # `run`'s
        self.snapshots = SnapshotWriter(settings.snapshot_records)
        self.committing: asyncio.Task[None] | None = None
        self.committing_outputs: list[tuple[int, dict[str, OwnSource], Output]] = []
        self.registry = CollectorRegistry(auto_describe=True)  # reads the fields above
        self.metrics = register_metrics(self.registry, self)
        register_runtime(self.registry)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await asyncio.to_thread(self.producer.init_transactions, REQUEST_TIMEOUT_SECONDS)
            topics = list(self.broadcast_topics)
            assigned = await asyncio.to_thread(assign_broadcast, self.broadcast, topics)
        except KafkaException as error:
            await self.stop()
            raise translate(error, self.settings) from error
        for tp in assigned:
            self.broadcast_types[(tp.topic, tp.partition)] = self.broadcast_topics[tp.topic]
        self._subscribe()
        self.background.append(asyncio.create_task(self.directory.run()))

    def _subscribe(self) -> None:
        self.group.subscribe(
            list(self.own_types),
            on_assign=self.on_assign,
            on_revoke=self.on_revoke,
            on_lost=self.on_revoke,
        )

    def _rejoin(self, reason: str) -> None:
        """The group consumer was fenced: drop every partition and join again with a new one
        (`Fences` tells a duplicate worker id from a rejoin that raced the coordinator)."""
        self.fences.count(reason)
        log.warning("group consumer fenced (%s); joining again", reason)
        self.revoke(self.holdings.all_partitions() | self.pending)
        try:
            self.group.close()
        except (KafkaException, RuntimeError) as error:
            log.warning("closing the fenced consumer: %s", error)
        self.group = group_consumer(self.settings)
        self._subscribe()

    async def stop(self) -> None:
        """Close the clients. A static member's close does not leave the group."""
        for task in (*self.background, self.committing):
            if task is not None:
                task.cancel()
        self.end_watch.close()
        for consumer in (self.group, self.broadcast):
            try:
                consumer.close()
            except (KafkaException, RuntimeError) as error:  # gone already, or never started
                log.warning("closing a Kafka consumer: %s", error)
        discard(self.producer)

    async def run(self, stopping: asyncio.Event) -> None:
        """Process rounds until `stopping` is set, then finish the round and stop.

        A static member does not leave the group when it stops: its partitions wait for it
        until its session times out, so a restart resumes them without a rebalance.
        """
        self.stopping = stopping
        await self.start()
        try:
            while not stopping.is_set():
                try:
                    busy = await self.round()
                except KafkaException as error:
                    raise translate(error, self.settings) from error
                if not busy:
                    await asyncio.sleep(IDLE_SECONDS)
            await self._settle()
        finally:
            await self.stop()

    # -- one round -----------------------------------------------------------------------------

    async def round(self) -> bool:
        """Fetch and apply until the round has run `RISKMON_ROUND_MS` or nothing more could be
        applied, then publish it: once the previous round's transaction has committed, this
        one's opens and commits while the next round works (`_publish`). True when anything
        was fetched or applied."""
        started = time.monotonic()
        fetched = self._fetch()
        async with self.lock:
            if self.pending:
                await self._settle()  # a restore reads what the open transaction commits
                await self._restore_pending()
            applied = chunk = self._process()
            while chunk and time.monotonic() - started < self.settings.round_ms / 1000:
                fetched += self._fetch()
                chunk = self._process()
                applied += chunk
            self.sweeper.run(self.engines())  # a slice of the reconciliation sweep
            if applied or self.fund.outbox or self._owes_publish():
                await self._publish()
            elif self.committing is not None and self.committing.done():
                await self._settle()
        return bool(fetched or applied)

    def _fetch(self) -> int:
        """Take what both consumers hold. The group's rebalance callbacks run in here: a
        partition revoked mid-round leaves with its uncommitted work, which its next owner
        repeats from the changelog."""
        fetched = 0
        try:
            own = take(self.group)
        except ConsumerFencedError as error:
            self._rejoin(str(error))
            own = {}
        for key, records in own.items():
            topic, partition = key
            source = self.holdings.source(partition, self.own_types[topic])
            if source is not None:
                source.extend(records)
                self._pace(TopicPartition(topic, partition), len(source.records))
            fetched += len(records)
        for key, records in take(self.broadcast).items():
            self.log.extend(key, records)
            fetched += len(records)
        self._refresh_horizons()
        return fetched

    def _pace(self, tp: TopicPartition, buffered: int) -> None:
        """Pause an input partition whose buffer grows while its task waits for another."""
        if buffered > PAUSE_ABOVE and tp not in self.paused:
            self.group.pause([tp])
            self.paused.add(tp)

    def _refresh_horizons(self) -> None:
        """What each partition's fetches vouch for (`streams.kafka.inputs.merge_order`).

        `EndWatch` keeps the last stable offsets from a request sent at `stamp`: a partition
        whose consumer position (past every record handed to us, control records included)
        has reached that offset holds everything committed before `stamp`. The position is
        invalid after a seek until a record is handed over, and then it is the offset sought.
        The grace period covers what was stamped before and still on its way to the broker.
        """
        grace = self.settings.order_grace_ms
        assigned = self.group.assignment() + self.broadcast.assignment()
        positions = self.group.position(self.group.assignment())
        positions += self.broadcast.position(self.broadcast.assignment())
        self.end_watch.refresh((tp.topic, tp.partition) for tp in assigned)
        stamp, ends = self.end_watch.stamp, self.end_watch.ends
        for tp in positions:
            key = (tp.topic, tp.partition)
            end = ends.get(key)
            if end is not None:
                self.ends[key] = end
            position = tp.offset if tp.offset >= 0 else self.sought.get(key, -1)
            drained = end is not None and stamp is not None and position >= end
            self.horizons[key] = stamp - grace if drained and stamp is not None else None

    def _process(self) -> int:
        budget = self.settings.max_batch_events
        applied = self.holdings.run(self.log, self.broadcast_types, self.horizons, budget)
        for tp in list(self.paused):
            source = self.holdings.source(tp.partition, self.own_types[tp.topic])
            if source is None or len(source.records) < RESUME_BELOW:
                self.group.resume([tp])
                self.paused.discard(tp)
        self._trim_broadcast()
        return applied

    def _trim_broadcast(self) -> None:
        for key in self.broadcast_types:
            lowest = self.holdings.lowest_cursor(key)
            if lowest is None:
                return
            self.log.trim(key, lowest)
            if key in self.broadcast_from:  # the log now serves cursors from `lowest` on
                self.broadcast_from[key] = max(self.broadcast_from[key], lowest)

    # -- commit --------------------------------------------------------------------------------

    async def _publish(self) -> None:
        """Wait for the previous round's transaction, then open this round's and queue its
        records; its commit runs on while the next round fetches and applies (Kafka allows
        one open transaction a producer, and the records of round n+1 go into the outputs,
        not the producer, until round n has committed)."""
        if not await self._settle():
            return  # every partition restores from its changelog, this round's work with it
        outputs = self.holdings.drain_outputs()
        producer, topics = self.producer, self.settings.topics
        try:
            end = partial(high_watermark, self.group, topics.changelog)
            snapshots = await self.snapshots.due(self.holdings.served, end)
            producer.begin_transaction()
            offsets = produce_outputs(producer, topics, outputs)
            for partition, records in snapshots:
                for key, value in records:
                    producer.produce(topics.snapshots, key=key, value=value, partition=partition)
            for key, value in self.fund.take_outbox():  # lost with an aborted transaction
                producer.produce(topics.projections, key=key, value=value)
        except (KafkaException, BufferError) as error:
            await self._failed(error)
            return
        self.committing = asyncio.create_task(self._commit(offsets))
        self.committing_outputs = outputs
        if self.holdings.joining:  # their outputs are in the transaction; a failure resets all
            for partition in self.holdings.join_ready(list(self.broadcast_types)):
                log.info("partition %d caught up and joined the served engine", partition)

    def _owes_publish(self) -> bool:
        """A round with nothing applied publishes all the same when a snapshot is due or a
        catching-up partition can join (it joins after a commit)."""
        keys = list(self.broadcast_types)
        return self.snapshots.waiting(self.holdings.served) or self.holdings.joinable(keys)

    async def _commit(self, offsets: list[TopicPartition]) -> None:
        """Commit the open transaction with the round's input offsets and the group's
        metadata (KIP-447: a worker that lost its partitions in a rebalance it missed, a
        zombie, has an old generation, and the coordinator refuses its offsets and with them
        the whole transaction)."""
        producer, limit = self.producer, COMMIT_TIMEOUT_SECONDS
        metadata = self.group.consumer_group_metadata()
        await blocking(
            producer.send_offsets_to_transaction, offsets, metadata, limit, timeout=limit + 1
        )
        await blocking(producer.commit_transaction, limit, timeout=limit + 1)

    async def _settle(self) -> bool:
        """Wait for the transaction in flight, if any, and count what it published; False
        when it failed (then every partition is restored from its changelog)."""
        committing, outputs = self.committing, self.committing_outputs
        if committing is None:
            return True
        self.committing, self.committing_outputs = None, []
        try:
            await committing
        except (KafkaException, TimeoutError) as error:
            await self._failed(error)
            return False
        self.rounds += 1
        for _, _, output in outputs:
            self.count_published(output, self.metrics.evaluation)
        return True

    async def _failed(self, error: Exception) -> None:
        """A transaction failed. Fenced too: the coordinator aborts a transaction open past
        its timeout (a worker stopped mid-round) and bumps the producer's epoch; a duplicate
        worker id shows on the group consumer instead (`_rejoin`)."""
        reason = str(error) or "no answer in time"
        log.warning("transaction failed (%s); restoring tasks from the changelog", reason)
        await self._reset()

    async def _reset(self) -> None:
        """After a failed transaction: a fresh producer (whose start aborts what the old one
        left open), and every task from its changelog."""
        discard(self.producer)
        while True:
            self.producer = transactional_producer(self.settings)
            init = self.producer.init_transactions
            started = asyncio.ensure_future(
                blocking(init, REQUEST_TIMEOUT_SECONDS, timeout=REQUEST_TIMEOUT_SECONDS + 1)
            )
            if not await until_stopped(started, self.stopping):
                return  # the worker stops (a broker that does not answer cannot hold it)
            try:
                started.result()
                break
            except (KafkaException, TimeoutError) as error:
                log.warning("producer restart failed (%s); retrying", error or "no answer")
                discard(self.producer)
                await asyncio.sleep(1.0)
        self.pending |= self.holdings.all_partitions()
        for partition in self.holdings.all_partitions():
            self.fund.forget(partition)
        self.holdings.clear()
        self._forget_broadcasts()

    # -- what the API and the metrics read --------------------------------------------------------

    @property
    def tasks(self) -> dict[int, Holding]:
        """The partitions served, each to the holding that serves it (HTTP, fund desk)."""
        served = self.holdings.served
        return {} if served is None else dict.fromkeys(served.partitions, served)

    def engines(self) -> list[Engine]:
        return self.holdings.engines()

    def _watch(self, served: Holding) -> None:
        """The served engine's epochs go to the fund desk, under the partitions it holds."""
        served.engine.watch_epochs(self.fund.listener(lambda: served.partitions, served.engine))

    def fund_projection(self) -> dict[str, Any] | None:
        return self.fund.latest

    def owners(self) -> dict[int, str]:
        """Partition -> HTTP URL of its owner, as the group coordinator last described it."""
        return self.directory.owners

    def status(self) -> dict[str, Any]:
        return {
            "worker_id": self.settings.worker_id,
            "partitions": self.holdings.partitions,
            "restoring": sorted(self.pending | set(self.holdings.joining)),
            "rounds": self.rounds,
            "restores": self.restores,
            "transitions_published": self.transitions_published,
            "fund": {
                "epochs_published": self.fund.published,
                "epochs_skipped": self.fund.skipped,
                "latest_epoch": None if self.fund.latest is None else self.fund.latest["ts"] + 1,
            },
        }
