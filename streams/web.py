"""The worker's HTTP endpoints (aiohttp): `/health` now; metrics and accounts build on it."""

from __future__ import annotations

from aiohttp import web

from streams.worker import Worker

WORKER: web.AppKey[Worker] = web.AppKey("worker", Worker)


async def health(request: web.Request) -> web.Response:
    """200 when every assigned partition is restored and processing; 503 while restoring."""
    worker = request.app[WORKER]
    status = worker.status()
    code = 503 if status["restoring"] else 200
    return web.json_response(
        {"status": "ok" if code == 200 else "restoring", **status}, status=code
    )


def build_app(worker: Worker) -> web.Application:
    app = web.Application()
    app[WORKER] = worker
    app.router.add_get("/health", health)
    return app


async def start_web(worker: Worker, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(build_app(worker), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
