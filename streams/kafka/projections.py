"""Live fund projections on the Kafka workers (docs/FUND.md, "Live projections").

The engine a worker serves its partitions from calls `FundDesk.listener` at each epoch; the
desk keeps, per epoch, its market and book share under the partitions it held then. The
worker that owns partition 0 aggregates: once it holds an epoch for all its partitions, it
asks every other worker for its share of that epoch over HTTP (its totals, then its stress
answers while the depletion search runs), combines them with its own
(`risk.fund.projection.aggregate_projection`) and queues one `riskmon.fund` record per asset
for its next transaction. Every worker computes its share with the aggregator's covariance,
so all of them draw the same Monte Carlo paths. An epoch some worker no longer holds, or whose
shares do not cover every partition exactly once (a rebalance in between), is skipped: the
next one will be published.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Final, NamedTuple

from risk.engine import Engine
from risk.fund.allocation import walked
from risk.fund.allocation_book import QueuePrefix, WeightShare
from risk.fund.cascade import RoundShare
from risk.fund.exposure import FloatArray
from risk.fund.projection import aggregate_projection, asset_records
from risk.fund.share import EpochShare, StressShare, Totals
from risk.fund.snapshot import BookShare, Market, take_market, take_share
from streams.codec import encode_record
from streams.http.access import client_context, client_headers
from streams.http.fund_wire import (
    pack,
    prefix_from,
    round_from,
    stress_from,
    totals_from,
    weights_from,
)
from streams.settings import WebAccess

log = logging.getLogger("riskmon.fund")

KEEP_EPOCHS: Final = 4
# The aggregation runs in a thread but holds the interpreter much of the time: after each, the
# aggregator rests three times as long, so it takes at most a quarter of the worker. Live, an
# epoch a minute is far slower than that; through a backlog, the epochs in between are
# skipped (the latest complete one is always the next aggregated).
AGGREGATE_SHARE: Final = 0.25
ASK_SECONDS: Final = 120.0


class NotReadyError(Exception):
    """A worker does not hold the epoch (yet, or any more)."""


class SkipEpochError(Exception):
    """The shares of an epoch do not cover every partition exactly once: never will."""


class FundDesk:
    """One worker's epochs, its share of each, and what its aggregation produced."""

    def __init__(self) -> None:
        self.snapshots: dict[int, dict[frozenset[int], tuple[Market, BookShare]]] = {}
        self.served: dict[int, EpochShare] = {}  # shares computed for the aggregator
        self.outbox: list[tuple[bytes, bytes]] = []
        self.latest: dict[str, Any] | None = None
        self.done = 0
        self.published = 0
        self.skipped = 0

    def listener(
        self, partitions: Callable[[], Iterable[int]], engine: Engine
    ) -> Callable[[int], None]:
        """What `engine` calls at each epoch: its market and book, kept under the partitions
        it holds at that moment."""

        def on_epoch(at: int) -> None:
            taken = (take_market(engine, at), take_share(engine))
            self.snapshots.setdefault(at, {})[frozenset(partitions())] = taken
            for old in sorted(self.snapshots)[:-KEEP_EPOCHS]:
                del self.snapshots[old]
                self.served.pop(old, None)

        return on_epoch

    def forget(self, partition: int) -> None:
        for held in self.snapshots.values():
            for key in [key for key in held if partition in key]:
                del held[key]
        self.served.clear()

    def complete(self, partitions: set[int]) -> list[int]:
        """Epochs whose snapshots cover exactly `partitions`, oldest first."""
        return [
            at
            for at, held in sorted(self.snapshots.items())
            if _covering(held, partitions) is not None
        ]

    def taken(self, at: int, partitions: set[int]) -> list[tuple[Market, BookShare]]:
        covering = _covering(self.snapshots.get(at, {}), partitions)
        if covering is None:
            raise NotReadyError(f"epoch {at} not held by exactly partitions {sorted(partitions)}")
        return covering

    def take_outbox(self) -> list[tuple[bytes, bytes]]:
        outbox, self.outbox = self.outbox, []
        return outbox

    def publish(self, projection: dict[str, Any], market: Market) -> None:
        self.latest = projection
        settle = dict(zip(market.symbols, market.settle, strict=True))
        for asset, record in asset_records(projection, settle).items():
            self.outbox.append((asset.encode(), encode_record(record).encode()))
        self.published += 1


def _covering(
    held: dict[frozenset[int], tuple[Market, BookShare]], partitions: set[int]
) -> list[tuple[Market, BookShare]] | None:
    """The snapshots that together hold exactly `partitions`, each once; None if none do."""
    parts = sorted((key for key in held if key <= partitions), key=min)
    covered = [partition for key in parts for partition in key]
    if not partitions or sorted(covered) != sorted(partitions):
        return None
    return [held[key] for key in parts]


def share_of(
    taken: list[tuple[Market, BookShare]], covariance: FloatArray, names: list[str]
) -> EpochShare:
    """A share with the aggregator's covariance (the same paths on every worker)."""
    market = replace(taken[0][0], covariance=covariance, names=tuple(names))
    return EpochShare.of(market, [book for _, book in taken])


class Peers(NamedTuple):
    """The other workers an aggregation asks, and how (token, TLS)."""

    urls: list[str]
    access: WebAccess


class RemoteShare:
    """Another worker's share of an epoch, asked over HTTP (blocking: run in a thread)."""

    def __init__(self, url: str, at: int, market: Market, access: WebAccess) -> None:
        self.url = url
        self.headers = {"Content-Type": "application/json", **client_headers(access)}
        self.context = client_context(access)
        self.at = at
        self.request = {"names": list(market.names), "covariance": pack(market.covariance)}
        self.partitions: list[int] = []
        self._totals: Totals | None = None

    def totals(self) -> Totals:
        if self._totals is None:
            document = self._post(f"/fund/shares/{self.at}", self.request)
            self.partitions = [int(partition) for partition in document["partitions"]]
            self._totals = totals_from(document["totals"])
        return self._totals

    def stress(self, asset: str, shocks: FloatArray) -> StressShare:
        body = {"asset": asset, "shocks": shocks.tolist()}
        return stress_from(self._post(f"/fund/stress/{self.at}", body))

    def cascade(self, asset: str, multiplier: FloatArray) -> RoundShare:
        body = {"asset": asset, "marks": pack(multiplier)}
        return round_from(self._post(f"/fund/cascade/{self.at}", body))

    def weights(self, asset: str, shocks: FloatArray) -> WeightShare:
        body = {"asset": asset, "shocks": shocks.tolist()}
        return weights_from(self._post(f"/fund/weights/{self.at}", body))

    def queue(self, asset: str, shocks: FloatArray, need: FloatArray) -> QueuePrefix:
        body = {"asset": asset, "shocks": shocks.tolist(), "need": pack(need)}
        return prefix_from(self._post(f"/fund/queue/{self.at}", body))

    def deleveraged(self, asset: str, shocks: FloatArray, need: FloatArray) -> FloatArray:
        return walked(self.queue(asset, shocks, need), need)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers=self.headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(
                request, timeout=ASK_SECONDS, context=self.context
            ) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as error:
            raise NotReadyError(f"{self.url}{path}: {error.code} {error.read()[:200]!r}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise NotReadyError(f"{self.url}{path}: {error}") from None


def aggregate(
    taken: list[tuple[Market, BookShare]],
    local_partitions: set[int],
    peers: Peers,
    partition_count: int,
    at: int,
) -> dict[str, Any]:
    """The projection of every worker's share at `at` (blocking: run in a thread)."""
    market = taken[0][0]
    remotes = [RemoteShare(url, at, market, peers.access) for url in peers.urls]
    covered = sorted(local_partitions)
    for remote in remotes:
        remote.totals()
        covered += remote.partitions
    if sorted(covered) != list(range(partition_count)):
        raise SkipEpochError(f"epoch {at}: shares cover partitions {sorted(covered)}")
    local = share_of(taken, market.covariance, list(market.names))
    return aggregate_projection(market, [local, *remotes])


async def aggregate_forever(
    worker: Any, desk: FundDesk, stopping: asyncio.Event, access: WebAccess
) -> None:
    """On the owner of partition 0: aggregate each new epoch held for all its partitions."""
    while not stopping.is_set():
        await asyncio.sleep(0.2)
        tasks = set(worker.tasks)
        count = worker.partition_count()
        if 0 not in tasks or count is None:
            continue
        ready = [at for at in desk.complete(tasks) if at > desk.done]
        if not ready:
            continue
        at = ready[-1]
        urls = sorted({url for url in worker.owners().values() if url != worker.url})
        peers = Peers(urls, access)
        started = time.monotonic()
        try:
            taken = desk.taken(at, tasks)
            projection = await asyncio.to_thread(aggregate, taken, tasks, peers, count, at)
        except (NotReadyError, SkipEpochError) as error:
            newer = at < max(desk.snapshots, default=at)
            if newer or isinstance(error, SkipEpochError):  # else wait for the other workers
                desk.done = at
                desk.skipped += 1
                log.warning("fund projection of epoch %d skipped: %s", at, error)
            continue
        desk.done = at
        desk.publish(projection, taken[0][0])
        await _rest(stopping, (time.monotonic() - started) * (1.0 / AGGREGATE_SHARE - 1.0))


async def _rest(stopping: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if the worker stops."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
