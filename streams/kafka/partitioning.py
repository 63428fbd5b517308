"""Which task owns a line: Kafka's default partitioner over the key `riskmon publish` uses.

A worker's output for the accounts of partition p is the replay of the broadcast lines plus
partition p's account lines; `partitioned_replay` computes exactly that, for tests and for
explaining the one place where it differs from a whole-file replay (docs/STREAMS.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiokafka.partitioner import DefaultPartitioner

from streams.config import EngineConfig
from streams.kafka.client import BROADCAST_TYPES
from streams.kafka.publish import route
from streams.replay import replay_lines
from streams.settings import Settings

_PARTITIONER = DefaultPartitioner()
_EVERY: dict[int, list[int]] = {}  # partition count -> its partitions


def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partition of a keyed record (murmur2, as every Kafka client does)."""
    every = _EVERY.get(partitions)
    if every is None:
        every = _EVERY[partitions] = list(range(partitions))
    partition: int = _PARTITIONER(key, every, every)
    return partition


def line_partition(line: bytes, settings: Settings) -> int | None:
    """The partition of an account line; None for broadcast lines and unkeyed ones."""
    routed = route(line, settings)
    account_topics = (settings.topics.positions, settings.topics.balances)
    if routed.topic not in account_topics or routed.key is None:
        return None
    return partition_of(routed.key, settings.partitions)


def partition_lines(lines: Iterable[bytes], settings: Settings) -> dict[int, list[bytes]]:
    """The lines each partition's task takes: its account lines and every broadcast line."""
    kept = list(lines)
    owners = [line_partition(line, settings) for line in kept]
    by_type = settings.topics.by_type()
    broadcast = {by_type[kind] for kind in BROADCAST_TYPES}
    shared = [route(line, settings).topic in broadcast for line in kept]
    return {
        partition: [
            line
            for line, owner, common in zip(kept, owners, shared, strict=True)
            if common or owner == partition
        ]
        for partition in range(settings.partitions)
    }


def partitioned_replay(
    lines: Iterable[bytes], settings: Settings, config: EngineConfig
) -> dict[int, list[str]]:
    """The transition lines each partition's task writes, replayed offline."""
    output: dict[int, list[str]] = {}
    for partition, selected in partition_lines(lines, settings).items():
        records: list[str] = []
        emit: Callable[[str], object] = records.append
        replay_lines(selected, config.engine(), emit)
        output[partition] = records
    return output
