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
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced
from prometheus_client.registry import CollectorRegistry

from risk.engine import Engine
from streams.config import EngineConfig
from streams.kafka.assignment import Assignment, Listener
from streams.kafka.client import BROADCAST_TYPES, BrokerError, client_options, explain
from streams.kafka.holding import Holding
from streams.kafka.holdings import Holdings
from streams.kafka.inputs import BroadcastLog, OwnSource
from streams.kafka.outputs import Output, transition_value
from streams.kafka.projections import FundDesk
from streams.kafka.routing import RoutingAssignor
from streams.observability.metrics import register_metrics, register_runtime
from streams.settings import Settings

log = logging.getLogger("riskmon.worker")

IDLE_SECONDS: Final = 0.005
COMMIT_TIMEOUT_SECONDS: Final = 30.0  # then a fresh producer fences the stuck one
RETRY_BACKOFF_MS: Final = 5
FETCH_WAIT_MS: Final = 20  # an idle partition is re-polled this often: the merge's clock
PAUSE_ABOVE: Final = 50_000  # buffered records of one input partition
RESUME_BELOW: Final = 10_000


class Worker(Assignment):
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
        self.polls: dict[tuple[str, int], tuple[int | None, int | None]] = {}
        self.ends: dict[tuple[str, int], int] = {}
        self.paused: set[TopicPartition] = set()
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.rejects: Counter[str] = Counter()
        self.transitions_published = 0
        self.level_transitions: Counter[tuple[str, str]] = Counter()
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
            self.group.subscribe(list(self.own_types), listener=Listener(self))
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
            committed = True
            if applied or self.fund.outbox:
                committed = await self._commit_or_reset()
            if committed and self.holdings.joining:
                for partition in self.holdings.join_ready(list(self.broadcast_types)):
                    log.info("partition %d caught up and joined the served engine", partition)
        return bool(fetched or applied)

    async def _fetch(self) -> int:
        fetched = 0
        batches = await self.group.getmany(timeout_ms=0)
        for tp, records in batches.items():
            source = self.holdings.source(tp.partition, self.own_types[tp.topic])
            if source is not None:
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
        """What each partition's fetches vouch for (`streams.kafka.inputs.merge_order`).

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
        applied = self.holdings.run(self.log, self.broadcast_types, self.horizons, budget)
        for tp in list(self.paused):
            source = self.holdings.source(tp.partition, self.own_types[tp.topic])
            if source is None or len(source.records) < RESUME_BELOW:
                self.group.resume(tp)
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

    async def _commit_or_reset(self) -> bool:
        """Publish the round in one transaction; False when it failed (then every partition
        is restored from its changelog)."""
        outputs = self.holdings.drain_outputs()
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
            return False
        self.rounds += 1
        published = time.monotonic()
        for _, _, output in outputs:
            self.outcomes.update(output.outcomes)
            self.rejects.update(output.rejects)
            self.transitions_published += len(output.transitions)
            for transition, taken in zip(output.transitions, output.taken_at, strict=True):
                self.level_transitions[(transition.from_level, transition.to_level)] += 1
                trigger = transition.trigger.split(":", 1)[0]
                self.metrics.evaluation.labels(trigger).observe(published - taken)
        return True

    async def _commit(self, outputs: list[tuple[int, dict[str, OwnSource], Output]]) -> None:
        producer, topics = self.producer, self.settings.topics
        offsets: dict[TopicPartition, int] = {}
        async with producer.transaction():
            for partition, sources, output in outputs:
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
                    await producer.send(topics.changelog, key=key, value=value, partition=partition)
                for source in sources.values():
                    offsets[TopicPartition(source.topic, partition)] = source.next_offset
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
        self.pending |= self.holdings.all_partitions()
        for partition in self.holdings.all_partitions():
            self.fund.forget(partition)
        self.holdings.clear()
        self._forget_broadcasts()

    # -- what the API and the metrics read --------------------------------------------------------

    def lag(self) -> dict[str, int]:
        """Per input topic: committed records not applied yet by this worker's tasks."""
        lag: Counter[str] = Counter()
        for partition, source in self.holdings.sources():
            end = self.ends.get((source.topic, partition), source.next_offset)
            lag[source.topic] += max(0, end - source.next_offset)
        for key in self.broadcast_types:
            lowest = self.holdings.lowest_cursor(key)
            if lowest is not None and key in self.ends:
                lag[key[0]] += max(0, self.ends[key] - lowest)
        return dict(lag)

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
        """Partition -> HTTP URL of its owner, from the last group assignment."""
        return self.assignor.owners

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
