"""Partitions coming and going on a worker: assignment, revocation and restore.

A revoked partition leaves the worker at once (its accounts leave the served engine). An
assigned one is restored from its changelog into an engine of its own
(`streams.kafka.holdings.Holdings.start`), its inputs are sought to the cursor stored there, and
the broadcast consumer is sought back to the lowest cursor the log lacks; it joins the served
engine once it has caught up (docs/STREAMS.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterable
from typing import cast

from confluent_kafka import Consumer, KafkaException, TopicPartition

from streams.kafka.checkpoints import Checkpoint, broadcast_cursors
from streams.kafka.client import BrokerError
from streams.kafka.holding import Holding
from streams.kafka.holdings import Holdings
from streams.kafka.inputs import BroadcastLog, OwnSource
from streams.kafka.librdkafka import REQUEST_TIMEOUT_SECONDS, read_latest, retriable
from streams.kafka.projections import FundDesk
from streams.kafka.routing import Directory
from streams.kafka.snapshots import SnapshotError, SnapshotWriter, checkpoint_of, decode_snapshot
from streams.settings import Settings

log = logging.getLogger("riskmon.worker")


class Assignment:
    """The worker's partition bookkeeping; the Kafka clients and buffers are the worker's."""

    settings: Settings
    group: Consumer
    broadcast: Consumer
    directory: Directory
    holdings: Holdings
    pending: set[int]
    lock: asyncio.Lock
    fund: FundDesk
    log: BroadcastLog
    own_types: dict[str, str]
    broadcast_types: dict[tuple[str, int], str]
    broadcast_from: dict[tuple[str, int], int]
    horizons: dict[tuple[str, int], int | None]
    sought: dict[tuple[str, int], int]  # the offset each input was last sought to
    restores: int
    ends: dict[tuple[str, int], int]
    snapshots: SnapshotWriter

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

    def partition_count(self) -> int:
        """Partitions of the account topics (blocking: a metadata request)."""
        topic = self.settings.topics.positions
        found = self.group.list_topics(topic, timeout=REQUEST_TIMEOUT_SECONDS).topics.get(topic)
        if found is None or not found.partitions:
            raise BrokerError(f"topic {topic} has no partitions")
        return len(found.partitions)

    # -- the group's rebalance callbacks (served inside `Consumer.consume`, between rounds) ---

    def on_assign(self, consumer: Consumer, assigned: list[TopicPartition]) -> None:
        """Assigned partitions wait, paused, until their restore seeks them to their cursor."""
        consumer.assign(assigned)
        consumer.pause(assigned)
        self.assign({tp.partition for tp in assigned})
        self.directory.rebalanced()

    def on_revoke(self, _consumer: Consumer, revoked: list[TopicPartition]) -> None:
        """A revoked partition's work not yet committed (in the transaction in flight, or
        applied since) is repeated by its next owner from the changelog."""
        self.revoke({tp.partition for tp in revoked})
        self.directory.rebalanced()

    def revoke(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.holdings.drop(partition)
            self.pending.discard(partition)
            self.fund.forget(partition)
        if not self.holdings.all_partitions():
            self.broadcast.pause(self.broadcast.assignment())
            self._forget_broadcasts()

    def _forget_broadcasts(self) -> None:
        """Drop the broadcast log: the next restore seeks to the tasks' own cursors."""
        self.log.clear()
        self.broadcast_from.clear()

    def assign(self, partitions: Iterable[int]) -> None:
        self.pending |= set(partitions) - self.holdings.all_partitions()

    async def _restore_pending(self) -> None:
        partitions = sorted(self.pending)
        self.pending.clear()
        assigned = {tp.partition for tp in self.group.assignment()}
        partitions = [partition for partition in partitions if partition in assigned]
        if not partitions:
            return
        await asyncio.to_thread(self._wait_stable, partitions)
        started = time.perf_counter()
        checkpoints = await asyncio.to_thread(self._read_checkpoints, partitions)
        broadcast_start = await asyncio.to_thread(
            _beginnings, self.broadcast, list(self.broadcast_types)
        )
        count = await asyncio.to_thread(self.partition_count)
        sources = {
            partition: await self._own_sources(partition, checkpoints[partition])
            for partition in partitions
        }
        holdings: list[Holding] = []
        if self.holdings.served is None and not self.holdings.joining:
            together = _same_position(checkpoints)
            parts = [
                (partition, sources[partition], checkpoints[partition]) for partition in together
            ]
            holdings.append(self.holdings.start_together(parts, count=count))
            partitions = [partition for partition in partitions if partition not in together]
        for partition in partitions:
            holdings.append(
                self.holdings.start(
                    partition,
                    sources[partition],
                    checkpoints[partition],
                    count=count,
                )
            )
        for holding in holdings:
            for key, offset in broadcast_start.items():
                holding.broadcast_cursors.setdefault(key, offset)
        self.restores += len(checkpoints)
        log.info("partitions %s restored in %.1f s: %d changelog entries read after %d snapshots",
                 sorted(checkpoints), time.perf_counter() - started,
                 sum(checkpoint.since_snapshot for checkpoint in checkpoints.values()),
                 sum(checkpoint.from_snapshot for checkpoint in checkpoints.values()))  # fmt: skip
        self._rewind_broadcast()

    def _read_checkpoints(self, partitions: list[int]) -> dict[int, Checkpoint]:
        """Each partition's checkpoint: its latest snapshot and the changelog from the offset
        it records on, or the whole changelog without a usable snapshot. Blocking."""
        topics, snapshots = self.settings.topics, {}
        for partition, entries in read_latest(self.settings, topics.snapshots, partitions).items():
            try:
                found = decode_snapshot(cast(dict[bytes, bytes], entries))  # read whole: no None
            except SnapshotError as error:
                log.warning("partition %d: its snapshot is not used (%s); reading its whole "
                            "changelog", partition, error)  # fmt: skip
                continue
            if found is not None:
                snapshots[partition] = found
        starts = {partition: found[1] for partition, found in snapshots.items()}
        changelog = read_latest(self.settings, topics.changelog, partitions, starts)
        checkpoints = {}
        for partition, entries in changelog.items():
            if partition in snapshots:
                state, _, self.snapshots.chunks[partition] = snapshots[partition]
                checkpoint = checkpoint_of(state, entries)
                checkpoint.from_snapshot = True
            else:
                checkpoint = Checkpoint.from_entries(cast(dict[bytes, bytes], entries))
            checkpoint.since_snapshot = len(entries)
            checkpoints[partition] = checkpoint
        return checkpoints

    def _wait_stable(self, partitions: list[int]) -> None:
        """Wait until no transaction of a previous owner holds offsets of these partitions.

        KIP-447: a read_committed consumer's offset fetch requires stable offsets, so it waits
        for a pending transactional offset commit (a worker that lost its partitions while
        stopped mid-transaction) to be committed or aborted. Only then is the changelog what
        that owner left; blocking.
        """
        tps = [TopicPartition(topic, part) for topic in self.own_types for part in partitions]
        while True:
            try:
                self.group.committed(tps, timeout=REQUEST_TIMEOUT_SECONDS)
                return
            except KafkaException as error:
                if not retriable(error):
                    raise
                log.info("partitions %s wait for a previous owner's transaction", partitions)

    async def _own_sources(self, partition: int, checkpoint: Checkpoint) -> dict[str, OwnSource]:
        stored = checkpoint.cursor.get("inputs", {})
        keys = [(topic, partition) for topic in self.own_types]
        starts = await asyncio.to_thread(_beginnings, self.group, keys)
        sources = {}
        for topic, kind in self.own_types.items():
            tp = TopicPartition(topic, partition)
            start = starts[(topic, partition)]
            offset = stored.get(kind, start)
            if offset < start:  # never skip input silently: the state would be incomplete
                raise BrokerError(
                    f"{topic}[{partition}] starts at offset {start}, but the checkpoint resumes "
                    f"from {offset}: retention dropped input this worker has not applied"
                )
            self.group.seek(TopicPartition(topic, partition, int(offset)))
            self.sought[(topic, partition)] = int(offset)
            self.group.resume([tp])
            self.horizons[(topic, partition)] = None
            sources[kind] = OwnSource(topic, int(offset))
        return sources

    def _rewind_broadcast(self) -> None:
        """Seek each broadcast partition back to the lowest task cursor the log lacks."""
        for key in self.broadcast_types:
            lowest = self.holdings.lowest_cursor(key)
            assert lowest is not None  # a partition was just restored
            held_from = self.broadcast_from.get(key)
            if held_from is None or lowest < held_from:
                self.broadcast.seek(TopicPartition(*key, lowest))
                self.sought[key] = lowest
                self.log.drop(key)
                self.broadcast_from[key] = lowest
                self.horizons[key] = None
        self.broadcast.resume(self.broadcast.assignment())


def _beginnings(consumer: Consumer, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """The first offset each (topic, partition) still holds (blocking: one request each)."""
    starts = {}
    for topic, partition in keys:
        low, _ = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=REQUEST_TIMEOUT_SECONDS
        )
        starts[(topic, partition)] = int(low)
    return starts


def _same_position(checkpoints: dict[int, Checkpoint]) -> list[int]:
    """The largest group of partitions whose checkpoints stand at one broadcast position."""
    groups: dict[tuple[tuple[tuple[str, int], int], ...], list[int]] = {}
    for partition, checkpoint in sorted(checkpoints.items()):
        position = tuple(sorted(broadcast_cursors(checkpoint).items()))
        groups.setdefault(position, []).append(partition)
    return max(groups.values(), key=len)
