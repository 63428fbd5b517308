"""Snapshots: a partition's checkpoint in binary, so that a new owner need not read its whole
changelog (docs/STREAMS.md, "Snapshots").

Now and then a worker writes partition p's state, as it stands after a round, to partition p
of the compacted snapshot topic, in that round's transaction: the balance, position and
tombstone rows of its accounts in columns (`Engine.account_rows`), the levels in columns, and
the other changelog entries as they are (broadcasts, projection state, the cursor). With it
goes `changelog_from`, the changelog's high watermark before the round's entries were
written. A new owner reads the latest snapshot, then the changelog from `changelog_from` on,
and lets those entries win key by key (`checkpoint_of`): any start at or before the
snapshot's own entries gives the changelog's latest value of every key.

Layout, under keys that are JSON arrays:
- `["chunk", i]`: the 8-byte snapshot id, the 4-byte index, then bytes i*CHUNK_BYTES... of
  the body, an uncompressed `.npz` of the columns (read with allow_pickle=False: a snapshot
  is data, never code);
- `["manifest"]`: JSON `{"format", "id", "chunks", "bytes", "sha256", "changelog_from"}`,
  written after the chunks. Chunks beyond a smaller snapshot's count are deleted.
A manifest whose chunks do not all carry its id, or whose body does not match its length and
digest, is refused (`SnapshotError`); the worker then reads the whole changelog.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import struct
import time
from collections.abc import Callable
from itertools import compress
from typing import Final

import numpy as np
import orjson
from confluent_kafka import KafkaException
from numpy.typing import NDArray

from risk.batch import BALANCE, COLUMNS, POSITION, SIDE_CODES, EventBatch
from risk.levels import LEVEL_NAMES
from streams.kafka.checkpoints import Checkpoint, PartitionState, account_kind
from streams.kafka.holding import Holding
from streams.kafka.outputs import LEVEL

log = logging.getLogger("riskmon.worker")

FORMAT: Final = 1
CHUNK_BYTES: Final = 900_000  # under Kafka's default limit of 1 MB a message
MANIFEST_KEY: Final = b'["manifest"]'
LEVEL_PREFIX: Final = orjson.dumps([LEVEL])[:-1] + b","  # b'["level",'
CHUNK_HEADER: Final = struct.Struct(">QI")  # snapshot id, chunk index
DTYPES: Final = {
    "kind": np.int8,
    "value": np.float64,
    "entry": np.float64,
    "margin": np.float64,
    "mode": np.int8,
    "side": np.int8,
    "seq": np.int64,
    "ts": np.int64,
}


class SnapshotError(Exception):
    """A snapshot that cannot be used; the worker reads the whole changelog instead."""


def chunk_key(index: int) -> bytes:
    return orjson.dumps(["chunk", index])


def encode_snapshot(
    state: PartitionState, *, snapshot_id: int, changelog_from: int, previous_chunks: int = 0
) -> list[tuple[bytes, bytes | None]]:
    """The snapshot topic's (key, value) records for `state`, manifest last; deletions of the
    chunks a previous snapshot had beyond this one's."""
    body = _body(state)
    pieces = [body[start : start + CHUNK_BYTES] for start in range(0, len(body), CHUNK_BYTES)]
    records: list[tuple[bytes, bytes | None]] = [
        (chunk_key(index), CHUNK_HEADER.pack(snapshot_id, index) + piece)
        for index, piece in enumerate(pieces)
    ]
    records += [(chunk_key(index), None) for index in range(len(pieces), previous_chunks)]
    manifest = {
        "format": FORMAT,
        "id": snapshot_id,
        "chunks": len(pieces),
        "bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "changelog_from": changelog_from,
    }
    records.append((MANIFEST_KEY, orjson.dumps(manifest)))
    return records


def decode_snapshot(entries: dict[bytes, bytes]) -> tuple[PartitionState, int, int] | None:
    """(state, changelog_from, chunks) of the snapshot in a partition's latest entries; None
    when there is none. Raises SnapshotError for one that cannot be trusted."""
    raw = entries.get(MANIFEST_KEY)
    if raw is None:
        return None
    try:
        manifest = orjson.loads(raw)
        if manifest.get("format") != FORMAT:
            raise SnapshotError(f"format {manifest.get('format')!r}; this version reads {FORMAT}")
        snapshot_id, count = int(manifest["id"]), int(manifest["chunks"])
        body = b"".join(_chunk(entries, snapshot_id, index) for index in range(count))
        if len(body) != manifest["bytes"] or hashlib.sha256(body).hexdigest() != manifest["sha256"]:
            raise SnapshotError(f"snapshot {snapshot_id}: its chunks do not match its digest")
        return _state(body), int(manifest["changelog_from"]), count
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise SnapshotError(f"unreadable snapshot: {error}") from error


def _chunk(entries: dict[bytes, bytes], snapshot_id: int, index: int) -> bytes:
    value = entries.get(chunk_key(index))
    if value is None or len(value) < CHUNK_HEADER.size:
        raise SnapshotError(f"chunk {index} of snapshot {snapshot_id} is missing")
    if CHUNK_HEADER.unpack_from(value) != (snapshot_id, index):
        raise SnapshotError(f"chunk {index} belongs to another snapshot than {snapshot_id}")
    return value[CHUNK_HEADER.size :]


# -- the body ---------------------------------------------------------------------------------


def _body(state: PartitionState) -> bytes:
    accounts = state.accounts
    arrays: dict[str, NDArray[np.generic]] = {
        name: np.asarray(getattr(accounts, name), dtype=dtype) for name, dtype in DTYPES.items()
    }
    for name in ("name", "key"):
        ordinals, text, lengths = _table(getattr(accounts, name))
        arrays |= {name: ordinals, f"{name}_text": text, f"{name}_lengths": lengths}
    levels = state.levels
    _, text, lengths = _table(list(levels))
    arrays |= {"level_text": text, "level_lengths": lengths}
    arrays["level"] = np.array([LEVEL_NAMES.index(name) for name, _ in levels.values()], np.int8)
    arrays["level_count"] = np.array([count for _, count in levels.values()], np.int64)
    others = [[key.decode(), value.decode()] for key, value in state.entries.items()]
    arrays["entries"] = np.frombuffer(orjson.dumps(others), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def _state(body: bytes) -> PartitionState:
    with np.load(io.BytesIO(body), allow_pickle=False) as loaded:
        arrays = {name: loaded[name] for name in loaded.files}
    accounts = EventBatch()
    for name in DTYPES:
        getattr(accounts, name).extend(arrays[name].tolist())
    for name in ("name", "key"):
        table = _strings(arrays[f"{name}_text"], arrays[f"{name}_lengths"])
        getattr(accounts, name).extend([table[index] for index in arrays[name].tolist()])
    if {len(getattr(accounts, name)) for name in COLUMNS} != {len(accounts.kind)}:
        raise SnapshotError("columns of different lengths")
    identities = _strings(arrays["level_text"], arrays["level_lengths"])
    levels = {
        identity: (LEVEL_NAMES[level], count)
        for identity, level, count in zip(
            identities, arrays["level"].tolist(), arrays["level_count"].tolist(), strict=True
        )
    }
    entries = {
        key.encode(): value.encode() for key, value in orjson.loads(arrays["entries"].tobytes())
    }
    return PartitionState(accounts, levels, entries)


def _table(strings: list[str]) -> tuple[NDArray[np.int32], NDArray[np.uint8], NDArray[np.int64]]:
    """(ordinal of each string in the table of distinct ones, the table's UTF-8, lengths)."""
    table = list(dict.fromkeys(strings))
    index = {text: ordinal for ordinal, text in enumerate(table)}
    ordinals = np.array([index[text] for text in strings], dtype=np.int32)
    encoded = [text.encode() for text in table]
    lengths = np.array([len(item) for item in encoded], dtype=np.int64)
    return ordinals, np.frombuffer(b"".join(encoded), dtype=np.uint8), lengths


def _strings(text: NDArray[np.uint8], lengths: NDArray[np.int64]) -> list[str]:
    raw, ends = text.tobytes(), np.cumsum(lengths).tolist()
    starts = [0, *ends[:-1]] if ends else []
    return [raw[start:end].decode() for start, end in zip(starts, ends, strict=True)]


# -- a snapshot and the changelog after it ----------------------------------------------------


def checkpoint_of(state: PartitionState, tail: dict[bytes, bytes | None]) -> Checkpoint:
    """The checkpoint of a snapshot's state overlaid, key by key, with the changelog entries
    read from its `changelog_from` on (None: a deleted key)."""
    entries = dict(state.entries)
    levels = dict(state.levels)
    replaced: set[tuple[int, str, str, int]] = set()
    for key, value in tail.items():
        if account_kind(key) is not None:  # the snapshot's row of this identity goes
            kind, name, what, *side = orjson.loads(key)
            code = POSITION if kind == "position" else BALANCE
            replaced.add((code, name, what, SIDE_CODES[side[0]] if side else 0))
        elif value is None and key.startswith(LEVEL_PREFIX):
            levels.pop(orjson.loads(key)[1], None)
        if value is None:
            entries.pop(key, None)
        else:
            entries[key] = value  # decoded below, as any changelog entry
    checkpoint = Checkpoint.from_entries(entries)
    checkpoint.levels = levels | checkpoint.levels
    accounts = _without(state.accounts, replaced)
    accounts.extend(checkpoint.accounts)
    checkpoint.accounts = accounts
    return checkpoint


def _without(batch: EventBatch, replaced: set[tuple[int, str, str, int]]) -> EventBatch:
    """The batch without the rows of these identities (kind, account, key, side)."""
    if not replaced:
        return batch
    names = {name for _, name, _, _ in replaced}
    dropped = {
        row
        for row, name in enumerate(batch.name)
        if name in names and (batch.kind[row], name, batch.key[row], batch.side[row]) in replaced
    }
    keep = np.ones(len(batch), dtype=np.bool_)
    keep[np.fromiter(dropped, dtype=np.int64, count=len(dropped))] = False
    kept, chosen = EventBatch(), keep.tolist()
    for name in COLUMNS:
        getattr(kept, name).extend(compress(getattr(batch, name), chosen))
    return kept


# -- when to write one ------------------------------------------------------------------------

Records = list[tuple[bytes, bytes | None]]


class SnapshotWriter:
    """Snapshots of the served partitions that have written `every` changelog entries since
    their last one (0: never), for the round's transaction."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.chunks: dict[int, int] = {}  # chunks of each partition's latest snapshot

    def waiting(self, served: Holding | None) -> bool:
        """Is a served partition's snapshot due (then a round publishes even when idle)?"""
        if served is None or not self.every:
            return False
        return any(since >= self.every for since in served.since_snapshot.values())

    async def due(
        self, served: Holding | None, watermark: Callable[[int], int]
    ) -> list[tuple[int, Records]]:
        """(partition, records) of every snapshot due after the round just drained;
        `watermark(p)`: the changelog's high watermark of p now, before the round's entries
        are written (blocking: one request a snapshot, made in a thread so that the loop
        serves HTTP meanwhile; nothing else changes the engine until the round is out)."""
        if served is None or not self.waiting(served):
            return []
        partitions = [p for p, since in served.since_snapshot.items() if since >= self.every]
        try:
            ends = await asyncio.to_thread(lambda: {p: watermark(p) for p in partitions})
        except KafkaException as error:  # the snapshots wait for the next round
            log.warning("snapshots of %s put off: no changelog offsets (%s)", partitions, error)
            return []
        written = []
        for partition in partitions:
            started = time.perf_counter()
            state = served.partition_state(partition)
            records = encode_snapshot(
                state,
                snapshot_id=time.time_ns(),
                changelog_from=ends[partition],
                previous_chunks=self.chunks.get(partition, 0),
            )
            self.chunks[partition] = chunk_count(records)
            served.since_snapshot[partition] = 0
            size = sum(len(value) for _, value in records if value is not None)
            log.info("partition %d: snapshot of %d rows, %.1f MB in %d chunks, built in %.2f s",
                     partition, len(state.accounts), size / 1e6, self.chunks[partition],
                     time.perf_counter() - started)  # fmt: skip
            written.append((partition, records))
        return written


def chunk_count(records: Records) -> int:
    """The chunk count of a snapshot's records (its manifest, the last record, says)."""
    manifest = records[-1][1]
    assert manifest is not None
    return int(orjson.loads(manifest)["chunks"])
