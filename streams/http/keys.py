"""What the HTTP API's handlers share: the worker they serve (`Directory`), the application's
keys, and how a worker asks another (the forwarding header and the timeout)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Final, Protocol

import aiohttp
from aiohttp import web
from prometheus_client.registry import CollectorRegistry

from streams.kafka.holding import Holding
from streams.kafka.projections import FundDesk
from streams.observability.metrics import Metrics

FORWARDED: Final = "X-Riskmon-Forwarded"
ASK_TIMEOUT: Final = aiohttp.ClientTimeout(total=5)


class Directory(Protocol):
    """What the API needs from a worker: its tasks and who owns the rest."""

    @property
    def tasks(self) -> Mapping[int, Holding]: ...
    @property
    def url(self) -> str: ...
    def partition_count(self) -> int | None: ...
    def owners(self) -> dict[int, str]: ...
    def status(self) -> dict[str, Any]: ...
    @property
    def fund(self) -> FundDesk: ...
    @property
    def registry(self) -> CollectorRegistry: ...
    @property
    def metrics(self) -> Metrics: ...


DIRECTORY: web.AppKey[Directory] = web.AppKey("directory", Directory)
SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)
REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("registry", CollectorRegistry)


async def answer_of(
    pending: AbstractAsyncContextManager[aiohttp.ClientResponse], refusals: bool = False
) -> dict[str, Any] | None:
    """The JSON of another worker's 200 answer to `pending` (a session's request), or None when
    it cannot answer; with `refusals`, its 400 is raised as this request's 400."""
    try:
        async with pending as response:
            if refusals and response.status == 400:
                raise web.HTTPBadRequest(text=await response.text())
            if response.status != 200:
                return None
            found: dict[str, Any] = await response.json()
            return found
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
