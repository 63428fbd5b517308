"""A partition's checkpoint: what its changelog (or its snapshot and the changelog after it)
holds, decoded for a restore (docs/STREAMS.md, "State, checkpoints and transactions")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

import orjson

from risk.batch import OTHER, EventBatch
from risk.checkpoint import PROJECTION, StateKey
from risk.events import Event, Rejection
from streams.codec import decode_event
from streams.columns import add_line
from streams.kafka.outputs import LEVEL


class CheckpointError(Exception):
    """A changelog the worker cannot rebuild its state from; one line for the operator."""


# Changelog keys are JSON arrays whose first element is the kind (`streams.kafka.outputs`)
ACCOUNT_PREFIXES: Final = {b'["position",': "position", b'["balance",': "balance"}


def account_kind(key: bytes) -> str | None:
    """ "position" or "balance" for an account entry's changelog key, else None (read from
    the key's first element without parsing the key)."""
    return ACCOUNT_PREFIXES.get(key[: key.find(b",") + 1])


@dataclass
class Checkpoint:
    """A task's committed state as read back from its changelog partition: the broadcast
    events, the balance and position rows in columns, levels, cursor, projection state."""

    events: list[Event] = field(default_factory=list)
    levels: dict[str, tuple[str, int]] = field(default_factory=dict)
    cursor: dict[str, Any] = field(default_factory=dict)
    projection: dict[StateKey, Any] = field(default_factory=dict)
    accounts: EventBatch = field(default_factory=EventBatch)
    broadcasts: dict[bytes, bytes] = field(default_factory=dict)  # their entries as they are
    since_snapshot: int = 0  # changelog entries read after the snapshot (all: without one)
    from_snapshot: bool = False

    @classmethod
    def from_entries(cls, entries: dict[bytes, bytes]) -> Checkpoint:
        """Decode the latest value of every changelog key (tombstones already removed); the
        balances and positions, nearly all of them, straight into columns."""
        checkpoint = cls()
        accounts = checkpoint.accounts
        for key, value in entries.items():
            kind = account_kind(key)
            if kind is not None:
                add_line(accounts, value, kind)
                if accounts.kind[-1] == OTHER:
                    _unparsable(key, accounts.others[len(accounts) - 1])
                continue
            parts = orjson.loads(key)
            if parts == ["cursor"]:
                checkpoint.cursor = orjson.loads(value)
            elif parts[0] == LEVEL:
                level = orjson.loads(value)
                checkpoint.levels[parts[1]] = (level["level"], level["count"])
            elif parts[0] == PROJECTION:
                checkpoint.projection[tuple(parts)] = orjson.loads(value)
            else:
                event = decode_event(value, parts[0])
                if isinstance(event, Rejection):
                    _unparsable(key, event)
                checkpoint.events.append(event)
                checkpoint.broadcasts[key] = value
        return checkpoint


def _unparsable(key: bytes, event: Event | Rejection) -> NoReturn:
    """An entry written by a different config or version."""
    reason = event.reason if isinstance(event, Rejection) else "not an account event"
    raise CheckpointError(
        f"changelog entry {key.decode(errors='replace')} no longer parses "
        f"({reason}): was it written with another instruments config?"
    )


@dataclass
class PartitionState:
    """A partition's checkpoint as a snapshot holds it (`streams.kafka.snapshots`): account
    rows in columns, levels by margin account id, and the other changelog entries
    (broadcasts, projection state, cursor) as they are."""

    accounts: EventBatch
    levels: dict[str, tuple[str, int]]
    entries: dict[bytes, bytes]


def broadcast_cursors(checkpoint: Checkpoint) -> dict[tuple[str, int], int]:
    """The broadcast position of a checkpoint: (topic, partition) -> next offset."""
    return {
        _split(name): int(offset) for name, offset in checkpoint.cursor.get("broadcast", {}).items()
    }


def _split(name: str) -> tuple[str, int]:
    topic, _, partition = name.rpartition(":")
    return topic, int(partition)
