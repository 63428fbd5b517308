"""Snapshots (streams/kafka/snapshots.py): a partition's checkpoint in binary chunks, and a
restore from a snapshot plus the changelog after it that writes what each partition's own
engine writes.
"""

from __future__ import annotations

import math
from collections import defaultdict

import orjson
import pytest

from risk.batch import EventBatch
from risk.events import BalanceEvent, PositionEvent
from streams.config import parse_config
from streams.kafka import snapshots
from streams.kafka.checkpoints import Checkpoint, PartitionState
from streams.kafka.holdings import Holdings
from streams.kafka.inputs import BroadcastLog
from streams.kafka.outputs import transition_value
from streams.kafka.snapshots import (
    MANIFEST_KEY,
    SnapshotError,
    checkpoint_of,
    chunk_key,
    decode_snapshot,
    encode_snapshot,
)
from tests.streamgen import config_text, generate_stream
from tests.streams.test_holdings import (
    ALL_FETCHED,
    PARTITIONS,
    _own_keys,
    _type_of,
    restart_and_compare,
    sources_from,
    stream_records,
)


def sample_state() -> PartitionState:
    accounts = EventBatch.from_events(
        [
            BalanceEvent("alice", "USDT", 1500.25, 7, 11),
            PositionEvent("alice", "BTCUSDT", -0.5, 61000.0, "cross", None, "both", None, 12),
            PositionEvent("bøb", "ETHUSDT", 2.0, 3000.0, "isolated", 400.0, "long", 3, 13),
            PositionEvent("bøb", "ETHUSDT", 0.0, 0.0, "cross", None, "short", None, 14),
        ]
    )
    levels = {"alice/cross/USDT": ("watch", 3), "bøb/isolated/ETHUSDT/long": ("safe", 2)}
    entries = {b'["mark","BTCUSDT"]': b'{"type":"mark"}', b'["cursor"]': b'{"inputs":{}}'}
    return PartitionState(accounts, levels, entries)


def as_dict(records: list[tuple[bytes, bytes | None]]) -> dict[bytes, bytes]:
    latest: dict[bytes, bytes] = {}
    for key, value in records:
        if value is None:
            latest.pop(key, None)
        else:
            latest[key] = value
    return latest


def same_rows(left: EventBatch, right: EventBatch) -> bool:
    def rows(batch: EventBatch) -> list[tuple[object, ...]]:
        columns = (batch.kind, batch.name, batch.key, batch.value, batch.entry, batch.mode)
        margins = ["nan" if math.isnan(m) else m for m in batch.margin]
        return list(zip(*columns, margins, batch.side, batch.seq, batch.ts, strict=True))

    return rows(left) == rows(right)


def test_a_snapshot_comes_back_as_it_was_written_over_several_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(snapshots, "CHUNK_BYTES", 500)
    state = sample_state()
    records = encode_snapshot(state, snapshot_id=9, changelog_from=1234, previous_chunks=40)
    manifest = orjson.loads(records[-1][1] or b"")
    assert records[-1][0] == MANIFEST_KEY
    assert manifest["chunks"] > 2
    deleted = [key for key, value in records if value is None]
    assert deleted == [chunk_key(index) for index in range(manifest["chunks"], 40)]
    found = decode_snapshot(as_dict(records))
    assert found is not None
    restored, changelog_from, chunks = found
    assert (changelog_from, chunks) == (1234, manifest["chunks"])
    assert same_rows(restored.accounts, state.accounts)
    assert restored.levels == state.levels
    assert restored.entries == state.entries
    assert decode_snapshot({}) is None


def test_a_snapshot_that_cannot_be_trusted_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshots, "CHUNK_BYTES", 500)
    older = as_dict(encode_snapshot(sample_state(), snapshot_id=1, changelog_from=5))
    newer = as_dict(encode_snapshot(sample_state(), snapshot_id=2, changelog_from=9))
    missing = dict(newer)
    del missing[chunk_key(1)]
    mixed = {**newer, chunk_key(1): older[chunk_key(1)]}
    flipped = dict(newer)
    flipped[chunk_key(0)] = flipped[chunk_key(0)][:-1] + b"?"
    manifest = orjson.loads(newer[MANIFEST_KEY])
    future = {**newer, MANIFEST_KEY: orjson.dumps({**manifest, "format": 99})}
    cases = [
        (missing, "chunk 1 of snapshot 2 is missing"),
        (mixed, "chunk 1 belongs to another snapshot than 2"),
        (flipped, "do not match its digest"),
        (future, "format 99; this version reads 1"),
        ({MANIFEST_KEY: b"{"}, "unreadable snapshot"),
    ]
    for entries, message in cases:
        with pytest.raises(SnapshotError, match=message):
            decode_snapshot(entries)


def test_the_changelog_after_a_snapshot_wins_key_by_key() -> None:
    state = sample_state()
    tail: dict[bytes, bytes | None] = {
        b'["balance","alice","USDT"]': orjson.dumps(
            {"account": "alice", "asset": "USDT", "wallet": 99.5, "ts": 20}
        ),
        b'["level","alice/cross/USDT"]': b'{"level":"margin_call","count":4}',
        b'["mark","BTCUSDT"]': None,
        b'["cursor"]': b'{"inputs":{"position":5}}',
    }
    checkpoint = checkpoint_of(state, tail)
    balances = [
        (name, value)
        for kind, name, value in zip(
            checkpoint.accounts.kind,
            checkpoint.accounts.name,
            checkpoint.accounts.value,
            strict=True,
        )
        if kind == 2
    ]
    assert balances == [("alice", 99.5)]
    assert len(checkpoint.accounts) == 4
    assert checkpoint.levels["alice/cross/USDT"] == ("margin_call", 4)
    assert checkpoint.levels["bøb/isolated/ETHUSDT/long"] == ("safe", 2)
    assert checkpoint.cursor == {"inputs": {"position": 5}}
    assert checkpoint.events == []  # the mark was deleted after the snapshot


@pytest.mark.parametrize(("seed", "at"), [(8, 2), (9, 4)])
def test_a_worker_restored_from_snapshots_and_the_changelog_after_them_goes_on(
    seed: int, at: int
) -> None:
    """Rounds of 100 over every partition; after round `at` each partition's snapshot is
    taken (its changelog offset before that round's entries, which the tail then holds
    again); after round 6 the worker dies. Restored from snapshot plus tail, the outputs
    before and after are each partition's replay."""
    lines, instruments = generate_stream(seed, 1_500)
    config = parse_config(config_text(instruments), "test")
    raw = [line.encode() for line in lines]
    own, broadcast = stream_records(raw)
    written: dict[int, list[str]] = defaultdict(list)
    tails: dict[int, dict[bytes, bytes | None]] = defaultdict(dict)
    taken: dict[int, dict[bytes, bytes]] = {}
    first = Holdings(config, lambda _: None)
    parts = [(p, sources_from(own[p], {}, len(raw)), Checkpoint()) for p in range(PARTITIONS)]
    served = first.start_together(parts, count=PARTITIONS)
    log = BroadcastLog()
    for key, held in broadcast.items():
        log.extend(key, held)
    types = {key: _type_of(key[0]) for key in log.records}
    horizons = dict.fromkeys([*types, *_own_keys()], ALL_FETCHED)
    for round_number in range(1, 7):
        first.run(log, types, horizons, 100)
        for partition, _, output in first.drain_outputs():
            written[partition] += [transition_value(t).decode() for t in output.transitions]
            if round_number >= at:
                tails[partition].update(output.changelog)
            if round_number == at:
                state = served.partition_state(partition)
                taken[partition] = as_dict(encode_snapshot(state, snapshot_id=1, changelog_from=0))
    checkpoints = {}
    for partition in range(PARTITIONS):
        found = decode_snapshot(taken[partition])
        assert found is not None
        checkpoints[partition] = checkpoint_of(found[0], tails[partition])
    restart_and_compare(config, raw, checkpoints, log, written)
