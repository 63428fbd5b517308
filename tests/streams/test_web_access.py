"""The API token and TLS (SPEC §13) on two workers' apps, real HTTP between them: without the
token nothing but /metrics and /health answers, refusals are counted, and the workers send the
token (and verify each other's certificates) when they ask each other."""

from __future__ import annotations

import asyncio
import shutil
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from streams.settings import WebAccess
from tests.integration.tls import make_certificates
from tests.streams.test_web import account_in, two_workers
from tests.streams.test_whatif_web import PROPOSAL

TOKEN = "s3cret-token-0123456789"
AUTHORIZED = {"Authorization": f"Bearer {TOKEN}"}


async def ask(
    server: TestServer,
    path: str,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
    body: bytes | None = None,
) -> tuple[int, Any, str]:
    """Status, JSON body (or None) and WWW-Authenticate of one request."""
    method = "GET" if body is None else "POST"
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, server.make_url(path), headers=headers, data=body, ssl=context or True
        ) as reply,
    ):
        text = await reply.text()
        document = await reply.json(content_type=None) if text.startswith("{") else None
        return reply.status, document, reply.headers.get("WWW-Authenticate", "")


def refusals(metrics: str) -> float:
    line = next(row for row in metrics.splitlines() if row.startswith("riskmon_http_unauth"))
    return float(line.split()[-1])


async def metrics_of(server: TestServer, context: ssl.SSLContext | None = None) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.make_url("/metrics"), ssl=context or True) as reply,
    ):
        assert reply.status == 200  # open: Prometheus scrapes it without the token
        return await reply.text()


def test_without_the_token_only_metrics_and_health_answer() -> None:
    async def scenario() -> None:
        async with two_workers(WebAccess(token=TOKEN)) as (first, _, _, _):
            assert refusals(await metrics_of(first)) == 0.0  # the counter starts at 0
            assert (await ask(first, "/health"))[0] == 200
            for path in ("/accounts?level=safe", f"/accounts/{account_in(0)}", "/fund"):
                status, document, challenge = await ask(first, path)
                assert (status, challenge) == (401, 'Bearer realm="riskmon"')
                assert document["error"].startswith("missing API token")
            wrong = {"Authorization": "Bearer " + TOKEN[:-1] + "x"}
            status, document, _ = await ask(first, "/accounts?level=safe", wrong)
            assert (status, document["error"][:15]) == (401, "wrong API token")
            status, _, _ = await ask(first, "/whatif", {"Authorization": TOKEN}, body=b"x")
            assert status == 401  # the scheme is part of it
            assert refusals(await metrics_of(first)) == 5.0

    asyncio.run(scenario())


def test_workers_send_the_token_to_each_other() -> None:
    async def scenario() -> None:
        async with two_workers(WebAccess(token=TOKEN)) as (first, second, _, _):
            status, document, _ = await ask(first, "/accounts?level=safe&limit=50", AUTHORIZED)
            assert (status, document["complete"]) == (200, True)
            status, document, _ = await ask(first, f"/accounts/{account_in(1)}", AUTHORIZED)
            assert (status, document["margin_account"]) == (200, account_in(1))
            headers = {**AUTHORIZED, "Content-Type": "application/toml"}
            status, document, _ = await ask(first, "/whatif", headers, body=PROPOSAL.encode())
            assert (status, document["complete"]) == (200, True)
            assert refusals(await metrics_of(second)) == 0.0  # the other worker refused nothing

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    return make_certificates(tmp_path_factory.mktemp("web-tls"))


def test_over_tls_workers_verify_each_other(certificates: tuple[Path, Path]) -> None:
    ca, bundle = certificates
    access = WebAccess(token=TOKEN, certfile=bundle, keyfile=bundle, cafile=ca)
    trusting = ssl.create_default_context(cafile=str(ca))

    async def scenario() -> None:
        async with two_workers(access) as (first, _, _, _):
            assert str(first.make_url("/")).startswith("https://127.0.0.1:")
            status, document, _ = await ask(
                first, "/accounts?level=safe&limit=50", AUTHORIZED, trusting
            )
            assert (status, document["complete"]) == (200, True)  # forwarded over TLS
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await ask(first, "/health")  # not trusted without the CA
        untrusting = WebAccess(token=TOKEN, certfile=bundle, keyfile=bundle)
        async with two_workers(untrusting) as (first, _, _, _):
            status, document, _ = await ask(
                first, "/accounts?level=safe&limit=50", AUTHORIZED, trusting
            )
            assert (status, document["complete"]) == (503, False)  # a peer it cannot verify
            assert document["missing_partitions"] == [1]

    asyncio.run(scenario())
