"""What the HTTP API's handlers share: the worker they serve (`Directory`), the application's
keys, and how a worker asks another (the forwarding header and the timeout)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

import aiohttp
from aiohttp import web
from prometheus_client.registry import CollectorRegistry

from streams.kafka.holding import Holding
from streams.kafka.projections import FundDesk

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


DIRECTORY: web.AppKey[Directory] = web.AppKey("directory", Directory)
SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)
REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("registry", CollectorRegistry)
