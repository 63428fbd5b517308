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
from collections.abc import Iterable
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from streams.kafka.client import BrokerError, read_committed
from streams.kafka.holding import Holding
from streams.kafka.holdings import Holdings
from streams.kafka.inputs import BroadcastLog, OwnSource
from streams.kafka.projections import FundDesk
from streams.kafka.task import Checkpoint, broadcast_cursors
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.kafka.worker import Worker

log = logging.getLogger("riskmon.worker")


class Assignment:
    """The worker's partition bookkeeping; the Kafka clients and buffers are the worker's."""

    settings: Settings
    group: AIOKafkaConsumer
    broadcast: AIOKafkaConsumer
    holdings: Holdings
    pending: set[int]
    lock: asyncio.Lock
    fund: FundDesk
    log: BroadcastLog
    own_types: dict[str, str]
    broadcast_types: dict[tuple[str, int], str]
    broadcast_from: dict[tuple[str, int], int]
    horizons: dict[tuple[str, int], int | None]
    restores: int

    def partition_count(self) -> int | None:
        """Partitions of the account topics, once the group has metadata for them."""
        found = self.group.partitions_for_topic(self.settings.topics.positions)
        return len(found) if found else None

    async def revoke(self, partitions: Iterable[int]) -> None:
        async with self.lock:  # no round is half done: each one commits before releasing
            for partition in partitions:
                self.holdings.drop(partition)
                self.pending.discard(partition)
                self.fund.forget(partition)
            if not self.holdings.all_partitions():
                self.broadcast.pause(*self.broadcast.assignment())
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
        entries = await read_changelog(self.settings, partitions)
        broadcast_start = await self.broadcast.beginning_offsets(
            [TopicPartition(*key) for key in self.broadcast_types]
        )
        count = self.partition_count()
        assert count is not None  # partitions are assigned
        checkpoints = {
            partition: Checkpoint.from_entries(entries[partition]) for partition in partitions
        }
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
                    entries=entries[partition],
                )
            )
        for holding in holdings:
            for tp, offset in broadcast_start.items():
                holding.broadcast_cursors.setdefault((tp.topic, tp.partition), offset)
        self.restores += len(checkpoints)
        log.info("partitions %s restored: %d entries", sorted(checkpoints),
                 sum(len(entries[partition]) for partition in checkpoints))  # fmt: skip
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
            lowest = self.holdings.lowest_cursor(key)
            assert lowest is not None  # a partition was just restored
            held_from = self.broadcast_from.get(key)
            if held_from is None or lowest < held_from:
                tp = TopicPartition(*key)
                self.broadcast.seek(tp, lowest)
                self.log.drop(key)
                self.broadcast_from[key] = lowest
                self.horizons[key] = None
        self.broadcast.resume(*self.broadcast.assignment())


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


class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands partition changes to the worker; revocation waits for the round in progress."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.worker.revoke({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.worker.assign({tp.partition for tp in assigned})


def _same_position(checkpoints: dict[int, Checkpoint]) -> list[int]:
    """The largest group of partitions whose checkpoints stand at one broadcast position."""
    groups: dict[tuple[tuple[tuple[str, int], int], ...], list[int]] = {}
    for partition, checkpoint in sorted(checkpoints.items()):
        position = tuple(sorted(broadcast_cursors(checkpoint).items()))
        groups.setdefault(position, []).append(partition)
    return max(groups.values(), key=len)
