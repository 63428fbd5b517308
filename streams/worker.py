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
from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError, ProducerFenced
from prometheus_client.registry import CollectorRegistry

from risk.engine import Engine
from streams.config import EngineConfig
from streams.inputs import BroadcastLog, OwnSource
from streams.kafka import BROADCAST_TYPES, BrokerError, client_options, explain, read_committed
from streams.metrics import register_metrics, register_runtime
from streams.projections import FundDesk
from streams.routing import RoutingAssignor
from streams.settings import Settings
from streams.task import Checkpoint, Output, PartitionTask, transition_value

log = logging.getLogger("riskmon.worker")

IDLE_SECONDS: Final = 0.005
COMMIT_TIMEOUT_SECONDS: Final = 30.0  # then a fresh producer fences the stuck one
RETRY_BACKOFF_MS: Final = 5
FETCH_WAIT_MS: Final = 20  # an idle partition is re-polled this often: the merge's clock
PAUSE_ABOVE: Final = 50_000  # buffered records of one input partition
RESUME_BELOW: Final = 10_000


class Worker:
    """Owns the consumers, the transactional producer and the partition tasks."""

    def __init__(self, settings: Settings, config: EngineConfig) -> None:
        self.settings = settings
        self.config = config
        topics = settings.topics
        self.own_types = {topics.positions: "position", topics.balances: "balance"}
        by_type = topics.by_type()
        self.broadcast_topics = {by_type[kind]: kind for kind in BROADCAST_TYPES}
        self.tasks: dict[int, PartitionTask] = {}
        self.pending: set[int] = set()
        self.lock = asyncio.Lock()
        self.log = BroadcastLog()
        self.broadcast_types: dict[tuple[str, int], str] = {}
        self.broadcast_from: dict[tuple[str, int], int] = {}
        self.horizons: dict[tuple[str, int], int | None] = {}
        self.polls: dict[tuple[str, int], tuple[int | None, int | None]] = {}
        self.ends: dict[tuple[str, int], int] = {}
        self.paused: set[TopicPartition] = set()
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.rejects: Counter[str] = Counter()
        self.transitions_published = 0
        self.level_transitions: Counter[tuple[str, str]] = Counter()
        self.fund = FundDesk()
        self.rounds = 0
        self.restores = 0
        options = client_options(settings)
        self.url = settings.web_url
        self.assignor = RoutingAssignor(settings.web_url, topics.positions)
        self.producer = self._new_producer()
        self.broadcast = AIOKafkaConsumer(
            **options,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_WAIT_MS,
        )
        self.group = AIOKafkaConsumer(
            **options,
            group_id=settings.group_id,
            group_instance_id=settings.worker_id,  # static: a restart keeps its partitions
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            partition_assignment_strategy=(self.assignor,),
            fetch_max_wait_ms=FETCH_WAIT_MS,
        )
        self.registry = CollectorRegistry(auto_describe=True)  # reads the fields above
        self.metrics = register_metrics(self.registry, self)
        register_runtime(self.registry)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.producer.start()
            await self.broadcast.start()
            await self.group.start()
            await self._assign_broadcast()
            self.group.subscribe(list(self.own_types), listener=_Listener(self))
        except KafkaError as error:
            await self.stop()
            raise BrokerError(explain(error, self.settings)) from error

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **client_options(self.settings),
            transactional_id=self.settings.transactional_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
            # Brokers that verify transactional produce (Kafka 3.6+, KIP-890) answer the first
            # write of a transaction with a retriable error while the previous one is still
            # being completed; the default 100 ms backoff would then pace every round.
            retry_backoff_ms=RETRY_BACKOFF_MS,
        )

    async def _assign_broadcast(self) -> None:
        partitions = []
        for topic, kind in self.broadcast_topics.items():
            found = self.broadcast.partitions_for_topic(topic)
            if not found:
                await self.broadcast._client.force_metadata_update()
                found = self.broadcast.partitions_for_topic(topic)
            if not found:
                raise BrokerError(f"topic {topic} does not exist (riskmon worker creates it)")
            for partition in sorted(found):
                partitions.append(TopicPartition(topic, partition))
                self.broadcast_types[(topic, partition)] = kind
        self.broadcast.assign(partitions)
        self.broadcast.pause(*partitions)

    async def stop(self) -> None:
        for client in (self.group, self.broadcast, self.producer):
            try:
                await client.stop()
            except KafkaError as error:  # the broker may be gone already
                log.warning("closing a Kafka client: %s", error)

    async def run(self, stopping: asyncio.Event) -> None:
        """Process rounds until `stopping` is set, then finish the round and stop.

        A static member does not leave the group when it stops: its partitions wait for it
        until its session times out, so a restart resumes them without a rebalance.
        """
        await self.start()
        try:
            while not stopping.is_set():
                try:
                    busy = await self.round()
                except KafkaError as error:
                    raise BrokerError(explain(error, self.settings)) from error
                if not busy:
                    await asyncio.sleep(IDLE_SECONDS)
        finally:
            await self.stop()

    # -- one round -----------------------------------------------------------------------------

    async def round(self) -> bool:
        """Fetch, process and commit once; True when anything was fetched or applied."""
        fetched = await self._fetch()
        async with self.lock:
            if self.pending:
                await self._restore_pending()
            applied = self._process()
            if applied or self.fund.outbox:
                await self._commit_or_reset()
        return bool(fetched or applied)

    async def _fetch(self) -> int:
        fetched = 0
        batches = await self.group.getmany(timeout_ms=0)
        for tp, records in batches.items():
            task = self.tasks.get(tp.partition)
            if task is not None:
                source = task.sources[self.own_types[tp.topic]]
                source.extend(records)
                self._pace(tp, len(source.records))
            fetched += len(records)
        for tp, records in (await self.broadcast.getmany(timeout_ms=0)).items():
            self.log.extend((tp.topic, tp.partition), records)
            fetched += len(records)
        await self._refresh_horizons()
        return fetched

    def _pace(self, tp: TopicPartition, buffered: int) -> None:
        """Pause an input partition whose buffer grows while its task waits for another."""
        if buffered > PAUSE_ABOVE and tp not in self.paused:
            self.group.pause(tp)
            self.paused.add(tp)

    async def _refresh_horizons(self) -> None:
        """What each partition's fetches vouch for (`streams.inputs.earliest`).

        aiokafka stamps a fetch response when it is processed, which can be long after the
        broker read the log (a busy event loop). The fetcher sends a node's next request only
        after the previous response was processed, so the *previous* stamp is a time before
        the broker read the log for the latest response: a partition drained by the latest
        response holds nothing that was appended before that previous stamp.
        """
        grace = self.settings.order_grace_ms
        for consumer in (self.group, self.broadcast):
            for tp in consumer.assignment():
                key = (tp.topic, tp.partition)
                end = consumer.last_stable_offset(tp)
                if end is None:
                    end = consumer.highwater(tp)
                polled = consumer.last_poll_timestamp(tp)
                previous, latest = self.polls.get(key, (None, None))
                if polled != latest:
                    previous, latest = latest, polled
                    self.polls[key] = (previous, latest)
                position = await consumer.position(tp)
                if end is not None:
                    self.ends[key] = end
                drained = end is not None and position >= end
                self.horizons[key] = previous - grace if drained and previous else None

    def _process(self) -> int:
        budget = self.settings.max_batch_events
        applied = 0
        for task in self.tasks.values():
            applied += task.run(self.log, self.broadcast_types, self.horizons, budget)
        for tp in list(self.paused):
            owner = self.tasks.get(tp.partition)
            source = None if owner is None else owner.sources[self.own_types[tp.topic]]
            if source is None or len(source.records) < RESUME_BELOW:
                self.group.resume(tp)
                self.paused.discard(tp)
        self._trim_broadcast()
        return applied

    def _trim_broadcast(self) -> None:
        if not self.tasks:
            return
        for key in self.broadcast_types:
            lowest = min(task.broadcast_cursors.get(key, 0) for task in self.tasks.values())
            self.log.trim(key, lowest)
            if key in self.broadcast_from:  # the log now serves cursors from `lowest` on
                self.broadcast_from[key] = max(self.broadcast_from[key], lowest)

    # -- commit --------------------------------------------------------------------------------

    async def _commit_or_reset(self) -> None:
        outputs = [(task, task.drain_output()) for task in self.tasks.values()]
        try:
            await asyncio.wait_for(self._commit(outputs), COMMIT_TIMEOUT_SECONDS)
        except ProducerFenced as error:
            raise BrokerError(
                f"another worker runs with transactional id {self.settings.transactional_id!r}"
                " (RISKMON_WORKER_ID must be unique per worker)"
            ) from error
        except (KafkaError, TimeoutError) as error:
            log.warning(
                "transaction failed (%s); restoring tasks from the changelog", error or "timeout"
            )
            await self._reset()
            return
        self.rounds += 1
        published = time.monotonic()
        for _, output in outputs:
            self.outcomes.update(output.outcomes)
            self.rejects.update(output.rejects)
            self.transitions_published += len(output.transitions)
            for transition, taken in zip(output.transitions, output.taken_at, strict=True):
                self.level_transitions[(transition.from_level, transition.to_level)] += 1
                trigger = transition.trigger.split(":", 1)[0]
                self.metrics.evaluation.labels(trigger).observe(published - taken)

    async def _commit(self, outputs: list[tuple[PartitionTask, Output]]) -> None:
        producer, topics = self.producer, self.settings.topics
        offsets: dict[TopicPartition, int] = {}
        async with producer.transaction():
            for task, output in outputs:
                for transition in output.transitions:
                    await producer.send(
                        topics.liquidations,
                        key=transition.margin_account.encode(),
                        value=transition_value(transition),
                    )
                for letter in output.dead_letters:
                    await producer.send(
                        topics.dlq,
                        key=letter.record.key,
                        value=letter.record.value,
                        headers=letter.headers(),
                    )
                for key, value in output.changelog.items():
                    await producer.send(
                        topics.changelog, key=key, value=value, partition=task.partition
                    )
                for source in task.sources.values():
                    offsets[TopicPartition(source.topic, task.partition)] = source.next_offset
            for key, value in self.fund.take_outbox():  # lost with an aborted transaction
                await producer.send(topics.projections, key=key, value=value)
            await producer.send_offsets_to_transaction(offsets, self.settings.group_id)

    async def _reset(self) -> None:
        """After a failed transaction: a fresh producer, and every task from its changelog."""
        try:
            await self.producer.stop()
        except KafkaError as error:
            log.warning("closing the producer: %s", error)
        while True:
            self.producer = self._new_producer()
            try:
                await self.producer.start()
                break
            except KafkaError as error:
                log.warning("producer restart failed (%s); retrying", error)
                await asyncio.sleep(1.0)
        self.pending |= set(self.tasks)
        for partition in self.tasks:
            self.fund.forget(partition)
        self.tasks.clear()
        self._forget_broadcasts()

    # -- assignment ----------------------------------------------------------------------------

    async def revoke(self, partitions: Iterable[int]) -> None:
        async with self.lock:  # no round is half done: each one commits before releasing
            for partition in partitions:
                self.tasks.pop(partition, None)
                self.pending.discard(partition)
                self.fund.forget(partition)
            if not self.tasks:
                self.broadcast.pause(*self.broadcast.assignment())
                self._forget_broadcasts()

    def _forget_broadcasts(self) -> None:
        """Drop the broadcast log: the next restore seeks to the tasks' own cursors."""
        self.log.clear()
        self.broadcast_from.clear()

    def assign(self, partitions: Iterable[int]) -> None:
        self.pending |= set(partitions) - set(self.tasks)

    async def _restore_pending(self) -> None:
        partitions = sorted(self.pending)
        self.pending.clear()
        assigned = {tp.partition for tp in self.group.assignment()}
        partitions = [partition for partition in partitions if partition in assigned]
        if not partitions:
            return
        entries = await read_changelog(self.settings, partitions)
        broadcast_start = await self.broadcast.beginning_offsets(
            [TopicPartition(*key) for key in self.broadcast_types]
        )
        for partition in partitions:
            checkpoint = Checkpoint.from_entries(entries[partition])
            sources = await self._own_sources(partition, checkpoint)
            task = PartitionTask(partition, self.config, sources, checkpoint)
            task.engine.watch_epochs(self.fund.listener(partition, task.engine))
            for tp, offset in broadcast_start.items():
                task.broadcast_cursors.setdefault((tp.topic, tp.partition), offset)
            self.tasks[partition] = task
            self.restores += 1
            log.info("partition %d restored: %d entries", partition, len(entries[partition]))
        self._rewind_broadcast()

    async def _own_sources(self, partition: int, checkpoint: Checkpoint) -> dict[str, OwnSource]:
        stored = checkpoint.cursor.get("inputs", {})
        sources = {}
        for topic, kind in self.own_types.items():
            tp = TopicPartition(topic, partition)
            start = (await self.group.beginning_offsets([tp]))[tp]
            offset = stored.get(kind, start)
            if offset < start:  # never skip input silently: the state would be incomplete
                raise BrokerError(
                    f"{topic}[{partition}] starts at offset {start}, but the checkpoint resumes "
                    f"from {offset}: retention dropped input this worker has not applied"
                )
            self.group.seek(tp, offset)
            self.horizons[(topic, partition)] = None
            sources[kind] = OwnSource(topic, int(offset))
        return sources

    def _rewind_broadcast(self) -> None:
        """Seek each broadcast partition back to the lowest task cursor the log lacks."""
        for key in self.broadcast_types:
            lowest = min(task.broadcast_cursors[key] for task in self.tasks.values())
            held_from = self.broadcast_from.get(key)
            if held_from is None or lowest < held_from:
                tp = TopicPartition(*key)
                self.broadcast.seek(tp, lowest)
                self.log.drop(key)
                self.broadcast_from[key] = lowest
                self.horizons[key] = None
        self.broadcast.resume(*self.broadcast.assignment())

    def partition_count(self) -> int | None:
        """Partitions of the account topics, once the group has metadata for them."""
        found = self.group.partitions_for_topic(self.settings.topics.positions)
        return len(found) if found else None

    def lag(self) -> dict[str, int]:
        """Per input topic: committed records not applied yet by this worker's tasks."""
        lag: Counter[str] = Counter()
        for task in self.tasks.values():
            for source in task.sources.values():
                end = self.ends.get((source.topic, task.partition), source.next_offset)
                lag[source.topic] += max(0, end - source.next_offset)
        for key in self.broadcast_types:
            cursors = [task.broadcast_cursors.get(key, 0) for task in self.tasks.values()]
            if cursors and key in self.ends:
                lag[key[0]] += max(0, self.ends[key] - min(cursors))
        return dict(lag)

    def engines(self) -> list[Engine]:
        return [task.engine for task in self.tasks.values()]

    def fund_projection(self) -> dict[str, Any] | None:
        return self.fund.latest

    def owners(self) -> dict[int, str]:
        """Partition -> HTTP URL of its owner, from the last group assignment."""
        return self.assignor.owners

    def status(self) -> dict[str, Any]:
        return {
            "worker_id": self.settings.worker_id,
            "partitions": sorted(self.tasks),
            "restoring": sorted(self.pending),
            "rounds": self.rounds,
            "restores": self.restores,
            "transitions_published": self.transitions_published,
            "fund": {
                "epochs_published": self.fund.published,
                "epochs_skipped": self.fund.skipped,
                "latest_epoch": None if self.fund.latest is None else self.fund.latest["ts"] + 1,
            },
        }


async def read_changelog(
    settings: Settings, partitions: list[int]
) -> dict[int, dict[bytes, bytes]]:
    """The latest committed value of every key in the given changelog partitions."""
    entries: dict[int, dict[bytes, bytes]] = {partition: {} for partition in partitions}
    async for record in read_committed(settings, settings.topics.changelog, partitions):
        latest = entries[record.partition]
        if record.value is None:
            latest.pop(record.key, None)
        else:
            latest[record.key] = record.value
    return entries


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands partition changes to the worker; revocation waits for the round in progress."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.worker.revoke({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.worker.assign({tp.partition for tp in assigned})
