"""The worker's HTTP API (aiohttp).

    GET /metrics                         Prometheus exposition (SPEC §11;
                                         streams/observability/metrics.py)
    GET /health                          200 when every assigned partition is restored, else 503
    GET /accounts/{margin_account_id}    one margin account (SPEC §10 `accounts` entry),
                                         answered by the worker that owns it
    GET /accounts?level=L&limit=N        the N worst accounts at level L or above, all workers
    GET /fund                            the latest fund projection (SPEC §8; docs/FUND.md),
                                         answered by the aggregating worker
    POST /fund/shares/{at}, /fund/stress/{at}, /fund/cascade/{at}, /fund/weights/{at},
         /fund/queue/{at}
                                         this worker's share of epoch `at`, for the aggregator
    POST /whatif                         the book under a proposed instruments or levels table
                                         (SPEC §10.1; streams/http/whatif.py), all workers

A request for an account another worker owns is forwarded to it (once: a forwarded request
is never forwarded again). The worst-accounts answer merges every owner's own answer; when an
owner cannot be asked, the merged list is still returned, with `complete: false`, the
partitions it lacks, and status 503: a partial list must never pass for the whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import aiohttp
import numpy as np
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from risk.fund.exposure import FloatArray
from risk.fund.share import EpochShare
from streams.http.access import (
    client_context,
    client_headers,
    server_context,
    token_middleware,
)
from streams.http.accounts import (
    find_account,
    level_of,
    merge_worst,
    owning_partition,
    worst_accounts,
)
from streams.http.fund_wire import (
    prefix_document,
    round_document,
    stress_document,
    totals_document,
    unpack,
    weights_document,
)
from streams.http.keys import (
    ASK_TIMEOUT,
    DIRECTORY,
    FORWARDED,
    REGISTRY,
    SESSION,
    Directory,
    answer_of,
)
from streams.http.whatif import whatif
from streams.kafka.projections import NotReadyError, share_of
from streams.settings import WebAccess

MAX_LIMIT: Final = 1000


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def health(request: web.Request) -> web.Response:
    status = request.app[DIRECTORY].status()
    code = 503 if status["restoring"] else 200
    return web.json_response(
        {"status": "ok" if code == 200 else "restoring", **status}, status=code
    )


def unavailable(message: str, **detail: Any) -> web.Response:
    return web.json_response({"error": message, **detail}, status=503, headers={"Retry-After": "1"})


async def account(request: web.Request) -> web.Response:
    directory = request.app[DIRECTORY]
    margin_account_id = request.match_info["margin_account_id"]
    partitions = directory.partition_count()
    if partitions is None:
        return unavailable("no partition assignment yet")
    partition = owning_partition(margin_account_id, partitions)
    task = directory.tasks.get(partition)
    if task is not None:
        found = find_account(task, margin_account_id)
        if found is None:
            return web.json_response(
                {"error": "unknown margin account", "margin_account": margin_account_id},
                status=404,
            )
        return web.json_response(found)
    owner = directory.owners().get(partition)
    if owner is None or owner == directory.url or FORWARDED in request.headers:
        return unavailable(
            "the owning partition is being restored or reassigned", partition=partition
        )
    return await forward(request, owner, partition)


async def forward(request: web.Request, owner: str, partition: int) -> web.Response:
    try:
        async with request.app[SESSION].get(
            owner + request.rel_url.path_qs, headers={FORWARDED: "1"}, timeout=ASK_TIMEOUT
        ) as response:
            body = await response.read()
            return web.Response(body=body, status=response.status, content_type="application/json")
    except (aiohttp.ClientError, TimeoutError) as error:
        return unavailable(f"owner {owner} did not answer: {error}", partition=partition)


def query_limits(request: web.Request) -> tuple[str, int]:
    level = request.query.get("level", "watch")
    try:
        level_of(level)
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        raise web.HTTPBadRequest(text="level must be a SPEC §5 level, limit an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise web.HTTPBadRequest(text=f"limit must be in [1, {MAX_LIMIT}]")
    return level, limit


async def accounts(request: web.Request) -> web.Response:
    directory = request.app[DIRECTORY]
    level, limit = query_limits(request)
    mine = worst_accounts(directory.tasks.values(), level_of(level), limit)
    answered = set(directory.tasks)
    if request.query.get("scope") == "local":
        return web.json_response({"partitions": sorted(answered), "accounts": mine})
    lists = [mine]
    others = {url for url in directory.owners().values() if url != directory.url}
    for url in sorted(others):
        found = await ask_owner(request.app[SESSION], url, level, limit)
        if found is not None:
            answered |= set(found["partitions"])
            lists.append(found["accounts"])
    partitions = directory.partition_count() or 0
    missing = sorted(set(range(partitions)) - answered)
    body = {
        "level": level,
        "limit": limit,
        "complete": not missing,
        "missing_partitions": missing,
        "accounts": merge_worst(lists, limit),
    }
    return web.json_response(body, status=503 if missing else 200)


async def ask_owner(
    session: aiohttp.ClientSession, url: str, level: str, limit: int
) -> dict[str, Any] | None:
    query = {"level": level, "limit": str(limit), "scope": "local"}
    return await answer_of(session.get(url + "/accounts", params=query, timeout=ASK_TIMEOUT))


async def fund(request: web.Request) -> web.Response:
    directory = request.app[DIRECTORY]
    latest = directory.fund.latest
    if latest is not None:
        return web.json_response(latest)
    owner = directory.owners().get(0)
    if owner is None or owner == directory.url or FORWARDED in request.headers:
        return unavailable("no fund projection yet: the first comes at the first epoch")
    return await forward(request, owner, 0)


async def fund_share(request: web.Request) -> web.Response:
    """This worker's Monte Carlo drawdowns, ADL heads and map cells at epoch `at`, computed
    with the aggregator's covariance; kept for the stress questions that follow."""
    directory = request.app[DIRECTORY]
    at = int(request.match_info["at"])
    try:
        body = await request.json()
        covariance, names = unpack(body["covariance"]), [str(name) for name in body["names"]]
    except (ValueError, KeyError, TypeError) as error:
        raise web.HTTPBadRequest(text=f"expected names and a packed covariance: {error}") from None
    partitions = set(directory.tasks)
    try:
        taken = directory.fund.taken(at, partitions)
    except NotReadyError as error:
        return web.json_response({"error": str(error)}, status=409)

    def compute() -> dict[str, Any]:
        share = share_of(taken, covariance, names)
        directory.fund.served[at] = share
        return totals_document(share.totals())

    totals = await asyncio.to_thread(compute)
    return web.json_response({"partitions": sorted(partitions), "totals": totals})


def _served(request: web.Request) -> EpochShare:
    directory = request.app[DIRECTORY]
    at = int(request.match_info["at"])
    share = directory.fund.served.get(at)
    if share is None:
        raise web.HTTPConflict(
            text=f'{{"error": "no share of epoch {at} was asked for"}}',
            content_type="application/json",
        )
    return share


async def _asset_and_shocks(request: web.Request) -> tuple[dict[str, Any], str, FloatArray]:
    """The body, its asset and its shocks (400 unless a list of finite numbers)."""
    try:
        body = await request.json()
        asset, shocks = str(body["asset"]), np.array(body["shocks"], dtype=np.float64)
    except (ValueError, KeyError, TypeError) as error:
        raise web.HTTPBadRequest(text=f"expected an asset and shocks: {error}") from None
    if shocks.ndim != 1 or not np.isfinite(shocks).all():
        raise web.HTTPBadRequest(text="shocks must be a list of finite numbers")
    return body, asset, shocks


async def fund_stress(request: web.Request) -> web.Response:
    share = _served(request)
    _, asset, shocks = await _asset_and_shocks(request)
    answer = await asyncio.to_thread(share.stress, asset, shocks)
    return web.json_response(stress_document(answer))


async def fund_weights(request: web.Request) -> web.Response:
    """Loss allocation's weights of this worker's accounts at the shocks."""
    share = _served(request)
    _, asset, shocks = await _asset_and_shocks(request)
    answer = await asyncio.to_thread(share.weights, asset, shocks)
    return web.json_response(weights_document(answer))


async def fund_queue(request: web.Request) -> web.Response:
    """The ADL queue entries of this worker that may cover `need` (2 x symbols x shocks)."""
    share = _served(request)
    body, asset, shocks = await _asset_and_shocks(request)
    try:
        need = unpack(body["need"])
    except (ValueError, KeyError, TypeError) as error:
        raise web.HTTPBadRequest(text=f"expected a packed need: {error}") from None
    rows = sum(1 for settle in share.market.settle if settle == asset)
    if need.shape != (2, rows, len(shocks)) or not (need >= 0.0).all():
        raise web.HTTPBadRequest(text=f"need must be 2 x {rows} x {len(shocks)} contracts >= 0")
    answer = await asyncio.to_thread(share.queue, asset, shocks, need)
    return web.json_response(prefix_document(answer))


async def fund_cascade(request: web.Request) -> web.Response:
    """A cascade round at the aggregator's side marks (2 x the asset's symbols x n)."""
    share = _served(request)
    try:
        body = await request.json()
        asset, marks = str(body["asset"]), unpack(body["marks"])
    except (ValueError, KeyError, TypeError) as error:
        raise web.HTTPBadRequest(text=f"expected an asset and marks: {error}") from None
    rows = sum(1 for settle in share.market.settle if settle == asset)
    if marks.ndim != 3 or marks.shape[:2] != (2, rows) or not (marks > 0.0).all():
        raise web.HTTPBadRequest(text=f"marks must be 2 x {rows} x n positive multipliers")
    answer = await asyncio.to_thread(share.cascade, asset, marks)
    return web.json_response(round_document(answer))


def _session(access: WebAccess) -> Callable[[web.Application], AsyncIterator[None]]:
    """The session a worker asks other workers with: the token, and their certificates
    verified (`streams.http.access`)."""

    async def session(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(ssl=client_context(access))
        app[SESSION] = aiohttp.ClientSession(headers=client_headers(access), connector=connector)
        yield
        await app[SESSION].close()

    return session


def build_app(directory: Directory, access: WebAccess | None = None) -> web.Application:
    access = access or WebAccess()
    app = web.Application()
    if access.token is not None:
        app.middlewares.append(token_middleware(access.token, directory.metrics.unauthorized))
    app[DIRECTORY] = directory
    app[REGISTRY] = directory.registry
    app.cleanup_ctx.append(_session(access))
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    app.router.add_get("/accounts", accounts)
    app.router.add_get("/accounts/{margin_account_id:.+}", account)
    app.router.add_get("/fund", fund)
    app.router.add_post("/fund/shares/{at:[0-9]+}", fund_share)
    app.router.add_post("/fund/stress/{at:[0-9]+}", fund_stress)
    app.router.add_post("/fund/cascade/{at:[0-9]+}", fund_cascade)
    app.router.add_post("/fund/weights/{at:[0-9]+}", fund_weights)
    app.router.add_post("/fund/queue/{at:[0-9]+}", fund_queue)
    app.router.add_post("/whatif", whatif)
    return app


async def start_web(
    directory: Directory, host: str, port: int, access: WebAccess | None = None
) -> web.AppRunner:
    """Serve the API on host:port (TLS when `access` has a certificate)."""
    access = access or WebAccess()
    runner = web.AppRunner(build_app(directory, access), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=server_context(access)).start()
    except OSError:
        await runner.cleanup()
        raise
    return runner
