"""A worker's holdings in memory: one served engine over its partitions, and a partition that
joins it from another worker's checkpoint, write exactly what each partition's own engine
writes (`streams.kafka.partitioning.partitioned_replay`), whether the served engine is ahead of
the checkpoint or behind it when the partition arrives.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import EngineConfig, parse_config
from streams.kafka.checkpoints import Checkpoint
from streams.kafka.holdings import Holdings, account_sharding
from streams.kafka.inputs import BroadcastLog, MemoryRecord, OwnSource
from streams.kafka.outputs import transition_value
from streams.kafka.partitioning import partition_of, partitioned_replay
from streams.kafka.publish import route
from streams.kafka.task import PartitionTask
from streams.settings import Settings
from tests.streamgen import config_text, generate_stream

PARTITIONS = 3
MOVED = 1
SETTINGS = Settings(partitions=PARTITIONS)
ALL_FETCHED = 1 << 62  # every source has been fetched to its end
Stream = tuple[dict[int, dict[str, list[MemoryRecord]]], dict[tuple[str, int], list[MemoryRecord]]]


def stream_records(lines: list[bytes]) -> Stream:
    """Each line as the Kafka record `riskmon publish` would make of it, stamped in file
    order: account lines by partition and type, broadcast lines by topic (partition 0)."""
    types = {topic: kind for kind, topic in SETTINGS.topics.by_type().items()}
    own: dict[int, dict[str, list[MemoryRecord]]] = defaultdict(lambda: defaultdict(list))
    broadcast: dict[tuple[str, int], list[MemoryRecord]] = defaultdict(list)
    for stamp, line in enumerate(lines):
        routed = route(line, SETTINGS)
        kind = types.get(routed.topic)
        if kind in ("position", "balance"):
            if routed.key is None:
                continue
            partition = partition_of(routed.key, PARTITIONS)
            held = own[partition][kind]
            held.append(MemoryRecord(routed.topic, partition, len(held), stamp, routed.key, line))
        elif kind is not None:
            held = broadcast[(routed.topic, 0)]
            held.append(MemoryRecord(routed.topic, 0, len(held), stamp, None, line))
    return own, broadcast


def sources_from(
    own: dict[str, list[MemoryRecord]], offsets: dict[str, int], before: int
) -> dict[str, OwnSource]:
    sources = {}
    for kind in ("balance", "position"):
        topic = SETTINGS.topics.by_type()[kind]
        source = OwnSource(topic, offsets.get(kind, 0))
        source.extend([record for record in own.get(kind, []) if record.timestamp < before])
        sources[kind] = source
    return sources


def drain(holdings: Holdings, log: BroadcastLog, budget: int, written: dict[int, list[str]]) -> int:
    """One round: run, publish (collect the records), let caught-up partitions join."""
    types = {key: _type_of(key[0]) for key in log.records}
    horizons = dict.fromkeys(list(types) + _own_keys(), ALL_FETCHED)
    applied = holdings.run(log, types, horizons, budget)
    for partition, _, output in holdings.drain_outputs():
        written[partition] += [transition_value(t).decode() for t in output.transitions]
    holdings.join_ready(list(types))
    return applied


def restart_and_compare(
    config: EngineConfig,
    raw: list[bytes],
    checkpoints: dict[int, Checkpoint],
    log: BroadcastLog,
    written: dict[int, list[str]],
) -> None:
    """A worker restarted from these checkpoints, together, runs to the end; the records of
    each partition, before the restart and after, are its replay."""
    own, _ = stream_records(raw)
    restarted = Holdings(config, lambda _: None)
    restarted.start_together(
        [(p, sources_from(own[p], checkpoints[p].cursor["inputs"], len(raw)), checkpoints[p])
         for p in range(PARTITIONS)],
        count=PARTITIONS,
    )  # fmt: skip
    while drain(restarted, log, 100, written):
        pass
    expected = partitioned_replay(raw, SETTINGS, config)
    for partition in range(PARTITIONS):
        assert written[partition] == expected[partition], partition
    assert all(written[partition] for partition in range(PARTITIONS))


def _type_of(topic: str) -> str:
    return {value: key for key, value in SETTINGS.topics.by_type().items()}[topic]


def _own_keys() -> list[tuple[str, int]]:
    topics = (SETTINGS.topics.positions, SETTINGS.topics.balances)
    return [(topic, partition) for topic in topics for partition in range(PARTITIONS)]


def checkpoint_elsewhere(
    config: EngineConfig, records: Stream, before: int, written: dict[int, list[str]]
) -> dict[bytes, bytes]:
    """Another worker ran partition MOVED over the records stamped before `before`: its
    committed changelog state."""
    own, broadcast = records
    task = PartitionTask(
        MOVED,
        config,
        sources_from(own[MOVED], {}, before),
        Checkpoint(),
        sharding=account_sharding(PARTITIONS),
    )
    log = BroadcastLog()
    for key, held in broadcast.items():
        log.extend(key, [record for record in held if record.timestamp < before])
    holdings = Holdings(config, lambda _: None)
    holdings.joining[MOVED] = task
    holdings.served = None
    while task.run(log, {key: _type_of(key[0]) for key in log.records},
                   dict.fromkeys([*log.records, *_own_keys()], ALL_FETCHED), 10_000):  # fmt: skip
        pass
    ((_, output),) = task.drain_outputs()
    written[MOVED] += [transition_value(t).decode() for t in output.transitions]
    return {key: value for key, value in output.changelog.items() if value is not None}


@pytest.mark.parametrize(("seed", "served_ahead"), [(5, True), (6, False), (7, True)])
def test_a_partition_joining_from_another_workers_checkpoint_writes_its_own_replay(
    seed: int, served_ahead: bool
) -> None:
    lines, instruments = generate_stream(seed, 1_500)
    config = parse_config(config_text(instruments), "test")
    raw = [line.encode() for line in lines]
    expected = partitioned_replay(raw, SETTINGS, config)
    records = stream_records(raw)
    own, broadcast = records
    written: dict[int, list[str]] = defaultdict(list)
    handover = len(raw) // 3 if served_ahead else len(raw) * 9 // 10
    entries = checkpoint_elsewhere(config, records, handover, written)
    holdings = Holdings(config, lambda _: None)
    for partition in range(PARTITIONS):
        if partition != MOVED:
            holdings.start(partition, sources_from(own[partition], {}, len(raw)), Checkpoint(),
                           count=PARTITIONS)  # fmt: skip
    log = BroadcastLog()
    for key, held in broadcast.items():
        log.extend(key, held)
    budget = 10_000 if served_ahead else 40
    # the first restored partition is served at once, the other catches up and joins it
    while holdings.joining if served_ahead else holdings.served is None:
        drain(holdings, log, budget, written)
    served = holdings.served
    assert served is not None
    checkpoint = Checkpoint.from_entries(entries)
    offsets = checkpoint.cursor["inputs"]
    holdings.start(MOVED, sources_from(own[MOVED], offsets, len(raw)), checkpoint,
                   count=PARTITIONS)  # fmt: skip
    position = sum(served.broadcast_cursors.values())
    assert (position > sum(checkpoint.cursor["broadcast"].values())) == served_ahead
    holdings.joining[MOVED].broadcast_cursors.update(
        {key: 0 for key in log.records if key not in holdings.joining[MOVED].broadcast_cursors}
    )
    rounds = 0
    while drain(holdings, log, budget, written) or holdings.joining:
        rounds += 1
        assert rounds < 500, "the partition never joined"
    assert holdings.partitions == [0, 1, 2]
    for partition in range(PARTITIONS):
        assert written[partition] == expected[partition], partition
    assert sum(len(found) for found in expected.values()) > 20


@pytest.mark.parametrize("seed", [8, 9])
def test_a_restarted_worker_restores_its_partitions_together_and_goes_on(seed: int) -> None:
    """A worker commits all its partitions in every round, so after a restart their
    checkpoints stand at one broadcast position: they are restored into the served engine
    at once, and the outputs before and after the restart are each partition's replay."""
    lines, instruments = generate_stream(seed, 1_500)
    config = parse_config(config_text(instruments), "test")
    raw = [line.encode() for line in lines]
    own, broadcast = stream_records(raw)
    written: dict[int, list[str]] = defaultdict(list)
    entries: dict[int, dict[bytes, bytes]] = defaultdict(dict)
    first = Holdings(config, lambda _: None)
    parts = [(p, sources_from(own[p], {}, len(raw)), Checkpoint()) for p in range(PARTITIONS)]
    first.start_together(parts, count=PARTITIONS)
    log = BroadcastLog()
    for key, held in broadcast.items():
        log.extend(key, held)
    types = {key: _type_of(key[0]) for key in log.records}
    horizons = dict.fromkeys([*types, *_own_keys()], ALL_FETCHED)
    for _ in range(6):  # six rounds of 100, then the worker is killed
        first.run(log, types, horizons, 100)
        for partition, _, output in first.drain_outputs():
            written[partition] += [transition_value(t).decode() for t in output.transitions]
            entries[partition].update((k, v) for k, v in output.changelog.items() if v)
    checkpoints = {p: Checkpoint.from_entries(entries[p]) for p in range(PARTITIONS)}
    restart_and_compare(config, raw, checkpoints, log, written)


def test_an_account_event_on_another_partition_is_dead_lettered() -> None:
    """An account topic keyed by something other than the account would split an account
    between partitions: such a record is rejected with its reason, and the round goes on."""
    config = parse_config(config_text([]), "test")
    holdings = Holdings(config, lambda _: None)
    holdings.start(0, {}, Checkpoint(), count=PARTITIONS)
    holdings.join_ready([])
    served = holdings.served
    assert served is not None
    elsewhere = next(f"a{n}" for n in range(100) if partition_of(f"a{n}".encode(), 3) == 2)
    here = next(f"a{n}" for n in range(100) if partition_of(f"a{n}".encode(), 3) == 0)
    lines = [
        {"type": "balance", "account": elsewhere, "asset": "USDT", "wallet": 5, "ts": 1},
        {"type": "balance", "account": here, "asset": "USDT", "wallet": 5, "ts": 2},
        {"type": "balance", "account": elsewhere, "asset": "USDT", "wallet": "5.0", "ts": 3},
    ]
    records = [
        (MemoryRecord("riskmon.balances", 0, offset, offset, None, json.dumps(line).encode()),
         "balance", 0)
        for offset, line in enumerate(lines)
    ]  # fmt: skip
    served.apply_records(records)
    ((_, output),) = served.drain_outputs()
    reasons = [letter.reason for letter in output.dead_letters]
    assert reasons == ["account keyed to another partition"] * 2
    assert [letter.record.offset for letter in output.dead_letters] == [0, 2]
    assert output.outcomes[("balance", "accepted")] == 1
    assert served.engine.accounts_by_name.keys() == {here}


def test_a_task_ahead_of_the_served_position_takes_nothing_past_its_own_next_broadcast() -> None:
    """Broadcast stamps need not grow with offsets. A task whose checkpoint is past the
    served position waits there, and never takes an account record that comes after its own
    next broadcast, however the broadcast at the served position is stamped."""
    config = parse_config(config_text([]), "test")
    fund = SETTINGS.topics.fund
    log = BroadcastLog()
    stamps = [500, 200]  # offset 0 (the served position) stamped after offset 1
    log.extend((fund, 0), [
        MemoryRecord(fund, 0, offset, ts, b"USDT", json.dumps(
            {"type": "fund", "asset": "USDT", "balance": 1000 + offset, "ts": ts}).encode())
        for offset, ts in enumerate(stamps)
    ])  # fmt: skip
    here = next(f"a{n}" for n in range(100) if partition_of(f"a{n}".encode(), 3) == 0)
    balances = SETTINGS.topics.balances
    own = [
        MemoryRecord(balances, 0, offset, ts, here.encode(), json.dumps(
            {"type": "balance", "account": here, "asset": "USDT", "wallet": 5, "ts": ts}).encode())
        for offset, ts in enumerate([150, 300])
    ]  # fmt: skip
    source = OwnSource(balances, 0)
    source.extend(own)
    checkpoint = Checkpoint(cursor={"broadcast": {f"{fund}:0": 1}})
    holdings = Holdings(config, lambda _: None)
    task = holdings.start(0, {"balance": source}, checkpoint, count=PARTITIONS)
    horizons = {(fund, 0): ALL_FETCHED, (balances, 0): ALL_FETCHED}
    applied = task.run(log, {(fund, 0): "fund"}, horizons, 100, limit={(fund, 0): 0})
    # its next broadcast is offset 1 (ts 200): the balance at 150 comes before it, the one at
    # 300 after it; the served position's record (ts 500) must not stand in for it
    assert applied == 1
    assert source.next_offset == 1


class Committed:
    """What Kafka holds: each partition's published records and changelog state."""

    def __init__(self) -> None:
        self.written: dict[int, list[str]] = defaultdict(list)
        self.entries: dict[int, dict[bytes, bytes]] = defaultdict(dict)

    def commit(self, holdings: Holdings) -> None:
        for partition, _, output in holdings.drain_outputs():
            self.written[partition] += [transition_value(t).decode() for t in output.transitions]
            self.entries[partition].update((k, v) for k, v in output.changelog.items() if v)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**16), moves=st.lists(st.integers(0, 2**16), min_size=1, max_size=6))
def test_partitions_moving_between_two_workers_write_each_partitions_replay(
    seed: int, moves: list[int]
) -> None:
    """Two workers, partitions handed back and forth between rounds (the old owner commits,
    drops the partition; the new one restores it from what was committed and lets it catch
    up): every partition's published records are its own replay."""
    lines, instruments = generate_stream(seed, 900)
    config = parse_config(config_text(instruments), "test")
    raw = [line.encode() for line in lines]
    own, broadcast = stream_records(raw)
    log = BroadcastLog()
    for key, held in broadcast.items():
        log.extend(key, held)
    committed = Committed()
    workers = [Holdings(config, lambda _: None), Holdings(config, lambda _: None)]
    owner = {partition: partition % 2 for partition in range(PARTITIONS)}

    def give(partition: int, worker: Holdings) -> None:
        checkpoint = Checkpoint.from_entries(committed.entries[partition])
        sources = sources_from(own[partition], checkpoint.cursor.get("inputs", {}), len(raw))
        task = worker.start(partition, sources, checkpoint, count=PARTITIONS,
                            )  # fmt: skip
        for key in log.records:
            task.broadcast_cursors.setdefault(key, 0)

    for partition, index in owner.items():
        give(partition, workers[index])
    rng = random.Random(seed)
    pending = list(moves)
    for _ in range(400):
        worker = workers[rng.randrange(2)]
        _round(worker, log, rng.choice((3, 7, 20)), committed)
        if pending and rng.random() < 0.1:
            partition = pending.pop() % PARTITIONS
            old, new = owner[partition], 1 - owner[partition]
            workers[old].drop(partition)
            owner[partition] = new
            give(partition, workers[new])
    for worker in workers:  # both run to the end
        while _round(worker, log, 10_000, committed) or worker.joining:
            pass
    expected = partitioned_replay(raw, SETTINGS, config)
    for partition in range(PARTITIONS):
        assert committed.written[partition] == expected[partition], partition


def _round(holdings: Holdings, log: BroadcastLog, budget: int, committed: Committed) -> int:
    types = {key: _type_of(key[0]) for key in log.records}
    horizons = dict.fromkeys(list(types) + _own_keys(), ALL_FETCHED)
    applied = holdings.run(log, types, horizons, budget)
    committed.commit(holdings)
    holdings.join_ready(list(types))
    return applied
