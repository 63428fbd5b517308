"""What a worker holds in one engine: partitions, their inputs and cursors, what it owes Kafka.

A holding applies the records of its partitions (p of the positions and balances topics,
keyed by account, so whole accounts) and every broadcast record (marks, instruments, fund,
depth) to one engine whose shards are the partitions (risk.sharding): each partition is
decided as an engine of its own would decide it, and a mark costs once. A round orders what
the holding's sources have buffered in arrays (`streams.kafka.inputs.merge_order`), decodes it
into columns and applies one batch; each partition's transitions, dead letters, changelog
entries and cursor go into that partition's output, which the worker publishes in one Kafka
transaction (docs/STREAMS.md).

A holding may be told to stop before a broadcast position (`run(limit=...)`): a partition
restored from an older checkpoint catches up in a holding of its own until it stands at the
worker's broadcast position, then joins the worker's holding.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any, Final

import orjson

from risk.batch import BALANCE, POSITION, EventBatch
from risk.checkpoint import projection_entries, row_state_key, written_versions
from risk.engine import ACCEPTED, REJECTED, Engine
from risk.engine.bulk import STATUSES
from risk.events import (
    NOT_AN_OBJECT,
    ON_ANOTHER_PARTITION,
    BalanceEvent,
    PositionEvent,
    Rejection,
)
from streams.columns import add_line
from streams.kafka.checkpoints import PartitionState
from streams.kafka.inputs import BroadcastLog, OwnSource, Record, Slot, capped, merge_order
from streams.kafka.outputs import CURSOR_KEY, LEVEL, DeadLetter, Output, encode_key

BroadcastKey = tuple[str, int]
ACCOUNT_ROWS: Final = (POSITION, BALANCE)
# An account event on a partition its account does not hash to: the account topics must be
# keyed by the account (SPEC §3), or one account's events would be split between partitions.
MERGE_MINIMUM: Final = 256  # records a source offers a merge, at least
Taken = tuple[Record, str, int | None]  # record, event type, own partition (None: broadcast)


class Holding:
    """One engine over some partitions; `run` processes what can be ordered now."""

    def __init__(self, engine: Engine, broadcast_cursors: dict[BroadcastKey, int]) -> None:
        self.engine = engine
        self.broadcast_cursors = broadcast_cursors
        self.sources: dict[int, dict[str, OwnSource]] = {}
        self.outputs: dict[int, Output] = {}
        self.projection_written: dict[int, dict[str, int]] = {}
        # the round's broadcast records and state entries, every partition's at the drain
        self.broadcast_events = 0
        self.broadcast_changelog: dict[bytes, bytes] = {}
        self.broadcast_state: dict[bytes, bytes] = {}  # every broadcast's latest entry
        self.since_snapshot: dict[int, int] = {}  # changelog entries a partition has written

    @property
    def partitions(self) -> list[int]:
        return sorted(self.sources)

    def add_partition(
        self,
        partition: int,
        sources: dict[str, OwnSource],
        *,
        written: bool = True,
        since_snapshot: int = 0,
    ) -> None:
        """Hold `partition` (its accounts already in the engine); `written`: the changelog
        holds the engine's projection state as it is (else it is written in full);
        `since_snapshot`: the changelog entries after its latest snapshot."""
        self.sources[partition] = sources
        self.since_snapshot[partition] = since_snapshot
        self.outputs[partition] = Output()
        self.projection_written[partition] = written_versions(self.engine) if written else {}

    def remove_partition(self, partition: int) -> None:
        self.sources.pop(partition, None)
        self.outputs.pop(partition, None)
        self.projection_written.pop(partition, None)
        self.since_snapshot.pop(partition, None)

    def shard(self, partition: int) -> int:
        """The engine's shard of `partition` (0 for an engine of one shard)."""
        return partition if self.engine.sharding.count > 1 else 0

    def cursor_document(self, partition: int) -> dict[str, Any]:
        return {
            "inputs": {
                kind: source.next_offset for kind, source in self.sources[partition].items()
            },
            "broadcast": {
                f"{topic}:{part}": offset
                for (topic, part), offset in sorted(self.broadcast_cursors.items())
            },
            "replay_time": self.engine.replay_times[self.shard(partition)],
        }

    # -- a round -------------------------------------------------------------------------------

    def run(
        self,
        broadcast: BroadcastLog,
        broadcast_types: dict[BroadcastKey, str],
        horizons: Mapping[BroadcastKey, int | None],
        budget: int,
        limit: dict[BroadcastKey, int] | None = None,
    ) -> int:
        """Apply records in merge order until one must wait, all are drained or `budget` ends.

        `horizons[(topic, partition)]` is what the consumer vouches for a drained partition
        (`streams.kafka.inputs.merge_order`); a missing entry means nothing is known yet. With a
        `limit`, broadcasts at or past it are not taken, and account records that would come
        after the first of them wait. Each source offers at most about 2 x budget / sources
        records (`streams.kafka.inputs.capped`), so a merge sorts about what it takes, not
        every record buffered. Returns the number of records applied.
        """
        busy = sum(1 for sources in self.sources.values() for s in sources.values() if s.records)
        cap = max(MERGE_MINIMUM, 2 * budget // max(1, busy + len(broadcast_types)))
        slots = [
            capped(Slot(kind, source.topic, partition, list(islice(source.records, cap + 1)),
                         horizons.get((source.topic, partition))), cap)
            for partition, sources in self.sources.items()
            for kind, source in sources.items()
        ]  # fmt: skip
        owners = [slot.partition for slot in slots]
        for key, event_type in broadcast_types.items():
            slot = self._broadcast_slot(key, event_type, broadcast, horizons, cap + 1, limit=limit)
            slots.append(capped(slot, cap))
            owners.append(-1)
        taken: list[Taken] = []
        for slot_index, index in merge_order(slots, budget):
            chosen, owner = slots[slot_index], owners[slot_index]
            record = chosen.records[index]
            if owner >= 0:
                self.sources[owner][chosen.event_type].take()
            else:
                self.broadcast_cursors[(record.topic, record.partition)] = record.offset + 1
            taken.append((record, chosen.event_type, owner if owner >= 0 else None))
        self.apply_records(taken)
        return len(taken)

    def _broadcast_slot(
        self,
        key: BroadcastKey,
        event_type: str,
        broadcast: BroadcastLog,
        horizons: Mapping[BroadcastKey, int | None],
        budget: int,
        *,
        limit: dict[BroadcastKey, int] | None,
    ) -> Slot:
        """The broadcast records from this holding's cursor on; below `limit` when given, and
        then vouching only for what comes before the first record at the limit."""
        cursor = self.broadcast_cursors.setdefault(key, 0)
        records = broadcast.since(key, cursor, budget)
        horizon = horizons.get(key)
        if limit is not None:
            stop = limit.get(key, cursor)
            records = [record for record in records if record.offset < stop]
            # The first record not offered: at the limit, or at the cursor of a holding that
            # is ahead of it. An account record stamped at or after it comes after it.
            following = broadcast.since(key, max(cursor, stop), 1)
            if following:
                horizon = following[0].timestamp - 1
        return Slot(event_type, key[0], key[1], records, horizon)

    def apply_records(self, taken: Sequence[Taken]) -> None:
        """Decode (record, event type, own partition or None) into columns and apply them in
        one batch; each partition's transitions, dead letters and state entries go to its
        output, a broadcast's state to every partition's when the round is drained."""
        if not taken:
            return
        batch = EventBatch()
        sharding = self.engine.sharding
        for row, (record, event_type, owner) in enumerate(taken):
            if record.value is None:
                batch.add(Rejection(NOT_AN_OBJECT))
                continue
            add_line(batch, record.value, event_type)
            if owner is not None and sharding.count > 1 and self._elsewhere(batch, row, owner):
                batch.reject(row, ON_ANOTHER_PARTITION)
        result = self.engine.apply_batch(batch)
        outputs = self.outputs
        reports = 0 in outputs  # a broadcast is counted once in the group: by partition 0
        statuses = result.status.tolist()
        for row, (record, event_type, owner) in enumerate(taken):
            status = STATUSES[statuses[row]]
            if owner is None:
                self.broadcast_events += 1
            else:
                outputs[owner].events += 1
            if owner is not None or reports:
                counted = outputs[0] if owner is None else outputs[owner]
                counted.outcomes[(event_type, status)] += 1
                if status == REJECTED:
                    reason = result.reasons.get(row, "")
                    counted.rejects[reason] += 1
                    counted.dead_letters.append(DeadLetter(record, reason))
            if status == ACCEPTED and record.value is not None:
                key = encode_key(row_state_key(batch, row))
                changelog = self.broadcast_changelog if owner is None else outputs[owner].changelog
                changelog[key] = record.value
        self._collect_transitions(result.transitions)

    def _elsewhere(self, batch: EventBatch, row: int, partition: int) -> bool:
        """Does a position or balance row's account belong to another partition than the one
        it came on (the account topics are keyed by the account, SPEC §3)?"""
        if batch.kind[row] in ACCOUNT_ROWS:
            account = batch.name[row]
        else:
            event = batch.others.get(row)
            if not isinstance(event, PositionEvent | BalanceEvent):
                return False
            account = event.account
        return self.engine.shard_of_account(account) != partition

    def _collect_transitions(self, transitions: list[tuple[int, tuple[Any, ...]]]) -> None:
        taken_at = time.monotonic()
        for _, records in transitions:
            for transition in records:
                output = self.outputs[self._partition_of(transition.account)]
                output.transitions.append(transition)
                output.taken_at.append(taken_at)
                count = int(transition.event_id.rsplit("#", 1)[1])
                key = encode_key((LEVEL, transition.margin_account))
                output.changelog[key] = orjson.dumps({"level": transition.to_level, "count": count})

    def _partition_of(self, account: str) -> int:
        """The partition of a record's account: its shard, or the only partition held."""
        if self.engine.sharding.count == 1:
            return next(iter(self.outputs))
        return self.engine.shard_of_account(account)

    def drain_outputs(self) -> list[tuple[int, Output]]:
        """Hand over the round's output of each partition, with its cursor (and the changed
        parts of the projection state) as the last changelog entries."""
        drained = []
        broadcast_events, broadcast_changelog = self.broadcast_events, self.broadcast_changelog
        self.broadcast_events, self.broadcast_changelog = 0, {}
        self.broadcast_state.update(broadcast_changelog)
        for partition, output in list(self.outputs.items()):
            self.outputs[partition] = Output()
            output.events += broadcast_events
            output.changelog = {**broadcast_changelog, **output.changelog}
            if output.events:
                written = self.projection_written[partition]
                for key, value in projection_entries(self.engine, written).items():
                    output.changelog[encode_key(key)] = orjson.dumps(value)
                output.changelog[CURSOR_KEY] = orjson.dumps(self.cursor_document(partition))
            self.since_snapshot[partition] += len(output.changelog)
            drained.append((partition, output))
        return drained

    def partition_state(self, partition: int) -> PartitionState:
        """The partition's checkpoint as it stands after the last drained round, for its
        snapshot (`streams.kafka.snapshots`)."""
        engine, shard = self.engine, self.shard(partition)
        entries = dict(self.broadcast_state)
        for key, value in projection_entries(engine, {}).items():
            entries[encode_key(key)] = orjson.dumps(value)
        entries[CURSOR_KEY] = orjson.dumps(self.cursor_document(partition))
        return PartitionState(engine.account_rows(shard), engine.shard_levels(shard), entries)
