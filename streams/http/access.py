"""Access to the HTTP API (SPEC §13): the bearer token, and TLS on both ends.

With a token set, every request but `GET /metrics` and `GET /health` must carry
`Authorization: Bearer <token>`; the comparison takes the same time wherever the tokens
differ (`hmac.compare_digest`). A missing or wrong token is a 401 with
`WWW-Authenticate: Bearer` and counts in `riskmon_http_unauthorized_total`. Workers send the
token when they ask each other (forwarded accounts, the fund shares, what-if shares).
"""

from __future__ import annotations

import functools
import hmac
import ssl
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import Counter

from streams.settings import WebAccess

OPEN_PATHS: Final = frozenset({"/metrics", "/health"})


def token_middleware(token: str, refused: Counter) -> Middleware:
    """A middleware that lets through only requests with the bearer token (or open paths)."""
    expected = ("Bearer " + token).encode()

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        given = request.headers.get("Authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            refused.inc()
            reason = "missing API token" if not given else "wrong API token"
            return web.json_response(
                {"error": f"{reason}: send Authorization: Bearer <RISKMON_API_TOKEN>"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="riskmon"'},
            )
        return await handler(request)

    return require_token


def client_headers(access: WebAccess) -> dict[str, str]:
    """What a worker sends with each request to another worker."""
    return {} if access.token is None else {"Authorization": f"Bearer {access.token}"}


def server_context(access: WebAccess) -> ssl.SSLContext | None:
    """The TLS context the API is served with, or None for plain HTTP."""
    if access.certfile is None or access.keyfile is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(access.certfile, access.keyfile)
    return context


@functools.cache  # loading the CAs takes milliseconds: once per process, shared by threads
def client_context(access: WebAccess) -> ssl.SSLContext:
    """How a worker verifies another worker's certificate: `cafile`, else the system's CAs."""
    cafile = None if access.cafile is None else str(access.cafile)
    return ssl.create_default_context(cafile=cafile)
