"""The demo's HTTP server on 127.0.0.1: the page, its JSON endpoints and `/metrics`.

GET /                    page.html: levels over time, stress curve, liquidation map, feed
GET /api/status          scenario, simulated time, marks, accounts per level, fund balances
GET /api/levels          accounts per level at each step (oldest first)
GET /api/fund            the latest fund projection (as a worker's GET /fund); 503 before
GET /api/transitions     the latest SPEC §7 records, newest first (?limit=1..200, 50)
GET /api/whatif          the book now with a symbol's maintenance rates scaled
                         (?symbol=S&factor=F): a worker's POST /whatif document (SPEC §10.1)
GET /metrics             the workers' metric families (streams.observability.metrics)
GET /health              200 while the simulation runs
"""

from __future__ import annotations

import errno
import json
import math
from importlib import resources
from typing import Any, Final

from aiohttp import web

from streams.config import ConfigError
from streams.demo.monitor import RECENT_TRANSITIONS, Monitor
from streams.http.keys import REGISTRY
from streams.http.web import metrics
from streams.whatif_live import merge_shares, parse_proposal, scaled_rates, worker_share

MONITOR: Final = web.AppKey("monitor", Monitor)
STATUS: Final = web.AppKey("status", dict)
DEFAULT_LIMIT: Final = 50
MAX_FACTOR: Final = 10.0


class PortBusyError(Exception):
    """The demo's port is taken."""


def status_document(monitor: Monitor, settings: dict[str, Any]) -> dict[str, Any]:
    """What /api/status answers: the run's settings and the state now."""
    ledger = monitor.engine.fund_ledger
    return {
        **settings,
        "sim_start_ts": monitor.start_ts,
        "sim_ts": monitor.now_ts,
        "marks": dict(monitor.simulator.marks),
        "levels": monitor.engine.level_counts(),
        "events": monitor.events,
        "transitions": monitor.transitions,
        "funds": {asset: ledger.balance(asset) for asset in ledger.assets()},
        "traders": monitor.simulator.accounts + monitor.simulator.arrived,
        "socialised": dict(monitor.simulator.socialised),
    }


async def page(_: web.Request) -> web.Response:
    text = resources.files("streams.demo").joinpath("page.html").read_text("utf-8")
    return web.Response(text=text, content_type="text/html")


async def status(request: web.Request) -> web.Response:
    return web.json_response(status_document(request.app[MONITOR], request.app[STATUS]))


async def levels(request: web.Request) -> web.Response:
    points = [{"ts": ts, "levels": counts} for ts, counts in request.app[MONITOR].history]
    return web.json_response({"points": points})


async def fund(request: web.Request) -> web.Response:
    latest = request.app[MONITOR].latest
    if latest is None:
        return web.json_response({"error": "no fund projection yet"}, status=503)
    return web.json_response(latest)


async def transitions(request: web.Request) -> web.Response:
    text = request.query.get("limit", str(DEFAULT_LIMIT))
    if not text.isdigit() or not 1 <= int(text) <= RECENT_TRANSITIONS:
        return web.json_response({"error": f"limit must be 1..{RECENT_TRANSITIONS}"}, status=400)
    return web.json_response({"transitions": list(request.app[MONITOR].recent)[: int(text)]})


async def whatif(request: web.Request) -> web.Response:
    """The book now, with `symbol`'s maintenance rates times `factor` (0 < factor <= 10)."""
    monitor = request.app[MONITOR]
    engine, symbol = monitor.engine, request.query.get("symbol", "")
    code = engine.symbols.get(symbol)
    try:
        factor = float(request.query.get("factor", ""))
    except ValueError:
        factor = math.nan
    if code is None or not 0.0 < factor <= MAX_FACTOR:
        reason = (
            f"unknown symbol {symbol!r}"
            if code is None
            else f"factor must be in (0, {MAX_FACTOR:g}]"
        )
        return web.json_response({"error": reason}, status=400)
    body = json.dumps(scaled_rates(engine.instruments[code], factor)).encode()
    try:
        share = worker_share(engine, parse_proposal(body, "application/json"))
    except ConfigError as error:  # e.g. a rate past what a tier table allows
        return web.json_response({"error": str(error)}, status=400)
    funds = [] if monitor.latest is None else monitor.latest["funds"]
    document = {"symbol": symbol, "factor": factor, "sim_ts": monitor.now_ts}
    return web.json_response(document | merge_shares([share], funds))


async def health(request: web.Request) -> web.Response:
    monitor = request.app[MONITOR]
    return web.json_response({"status": "ok", "sim_ts": monitor.now_ts, "events": monitor.events})


def build_app(monitor: Monitor, settings: dict[str, Any]) -> web.Application:
    app = web.Application()
    app[MONITOR] = monitor
    app[STATUS] = settings
    app[REGISTRY] = monitor.registry  # the workers' /metrics handler
    app.router.add_get("/", page)
    app.router.add_get("/api/status", status)
    app.router.add_get("/api/levels", levels)
    app.router.add_get("/api/fund", fund)
    app.router.add_get("/api/transitions", transitions)
    app.router.add_get("/api/whatif", whatif)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    return app


async def start_web(
    monitor: Monitor, settings: dict[str, Any], host: str, port: int
) -> tuple[web.AppRunner, str]:
    """Serve the app; returns the runner and the page's URL (the port chosen when 0)."""
    runner = web.AppRunner(build_app(monitor, settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        if error.errno == errno.EADDRINUSE:
            raise PortBusyError(
                f"port {port} on {host} is busy: pass another --port (0 picks a free one)"
            ) from None
        raise PortBusyError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    bound = runner.addresses[0][1]
    return runner, f"http://{host}:{bound}/"
