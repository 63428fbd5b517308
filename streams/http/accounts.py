"""Account queries of the HTTP API, answered from the partition tasks a worker holds.

Records are the SPEC §10 `accounts` entries. The worst-first order is one key used by the
engine, by a worker merging its tasks and by the worker that merges every worker's answer:
higher level first, then the deepest deficit (bankrupt) or the highest margin ratio, then id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from risk.engine import Engine
from risk.levels import LEVEL_NAMES, Level
from streams.kafka.holding import Holding
from streams.kafka.partitioning import partition_of

Record = dict[str, Any]


def level_of(name: str) -> Level:
    """The level called `name` (SPEC §5), or ValueError."""
    return Level(LEVEL_NAMES.index(name))


def owning_partition(margin_account_id: str, partitions: int) -> int:
    """Task of a margin account: account topics are keyed by the account (SPEC §3)."""
    account = margin_account_id.split("/", 1)[0]
    return partition_of(account.encode(), partitions)


def find_account(task: Holding, margin_account_id: str) -> Record | None:
    engine = task.engine
    index = engine.find_margin_account(margin_account_id)
    return None if index is None else engine.account_view(index).as_record()


def worst_first(record: Record) -> tuple[int, float, str]:
    level = LEVEL_NAMES.index(record["level"])
    if record["level"] == "bankrupt":
        badness = -float(record["equity"])
    else:
        badness = float(record["margin_ratio"] or 0.0)
    return (-level, -badness, record["margin_account"])


def engines_of(tasks: Iterable[Holding]) -> list[Engine]:
    """The engines of `tasks`, each once (the partitions of a holding share its engine)."""
    return list({id(task.engine): task.engine for task in tasks}.values())


def worst_accounts(tasks: Iterable[Holding], minimum: Level, limit: int) -> list[Record]:
    """The `limit` worst accounts at `minimum` or above over `tasks`."""
    found = [
        engine.account_view(index).as_record()
        for engine in engines_of(tasks)
        for index in engine.worst_accounts(minimum, limit)
    ]
    return merge_worst([found], limit)


def merge_worst(lists: Iterable[list[Record]], limit: int) -> list[Record]:
    return sorted((record for found in lists for record in found), key=worst_first)[:limit]
