"""POST /whatif (SPEC §10.1): the live book under a proposed instruments or levels table.

The body is the proposal (TOML, or JSON with `Content-Type: application/json`;
`streams.whatif_live.parse_proposal`). The worker asked answers for the accounts it holds and
asks every other owner for theirs with the same body (`?scope=local`, once: a forwarded request
is never forwarded again), then merges them as `/accounts` does: when an owner cannot be
asked, the merged document is still returned, with `complete: false`, the partitions it lacks,
and status 503. A proposal that fails validation here or at an owner is a 400 whose body is
the one-line reason. The running state never changes.

A share is computed on the event loop, between the worker's rounds, so that it reads one
consistent engine (a rebalance moves accounts in and out of it on the loop); at 1M positions
that holds the rounds for a fraction of a second (BENCHMARKS.md, the live what-if row).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from streams.config import ConfigError
from streams.http.accounts import engines_of
from streams.http.keys import ASK_TIMEOUT, DIRECTORY, FORWARDED, SESSION, answer_of
from streams.whatif_live import merge_shares, parse_proposal, worker_share


async def whatif(request: web.Request) -> web.Response:
    directory = request.app[DIRECTORY]
    body, content_type = await request.read(), request.headers.get("Content-Type", "")
    try:
        proposal = parse_proposal(body, content_type)
        shares = [worker_share(engine, proposal) for engine in engines_of(directory.tasks.values())]
    except ConfigError as error:
        raise web.HTTPBadRequest(text=str(error)) from None
    answered = set(directory.tasks)
    if request.query.get("scope") == "local":
        return web.json_response({"partitions": sorted(answered), "shares": shares})
    session = request.app[SESSION]
    for url in sorted({url for url in directory.owners().values() if url != directory.url}):
        found = await ask_owner(session, url, body, content_type)
        if found is not None:
            answered |= set(found["partitions"])
            shares += found["shares"]
    missing = sorted(set(range(directory.partition_count() or 0)) - answered)
    funds = await fund_records(request)
    document = {"complete": not missing, "missing_partitions": missing}
    document |= merge_shares(shares, funds)
    return web.json_response(document, status=503 if missing else 200)


async def ask_owner(
    session: aiohttp.ClientSession, url: str, body: bytes, content_type: str
) -> dict[str, Any] | None:
    """Another owner's shares; None when it cannot answer, and its 400 passed on as ours."""
    headers = {FORWARDED: "1", "Content-Type": content_type or "application/toml"}
    query = {"scope": "local"}
    pending = session.post(
        url + "/whatif", params=query, data=body, headers=headers, timeout=ASK_TIMEOUT
    )
    return await answer_of(pending, refusals=True)


async def fund_records(request: web.Request) -> list[dict[str, Any]]:
    """The fund records of the latest projection: this worker's when it aggregates, else the
    aggregator's (`/fund`); none before the first epoch or when the aggregator cannot answer."""
    directory = request.app[DIRECTORY]
    latest = directory.fund.latest
    if latest is None:
        owner = directory.owners().get(0)
        if owner is None or owner == directory.url:
            return []
        pending = request.app[SESSION].get(
            owner + "/fund", headers={FORWARDED: "1"}, timeout=ASK_TIMEOUT
        )
        latest = await answer_of(pending)
        if latest is None:
            return []
    funds: list[dict[str, Any]] = latest["funds"]
    return funds
