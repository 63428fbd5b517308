"""A worker asked to stop while it restarts its producer against a broker that does not
answer stops at once, not after the restart's timeout (30 s) and its retries."""

from __future__ import annotations

import asyncio
import socket
import time

from streams.kafka.worker import Worker
from streams.settings import Settings
from tests.streams.test_web import CONFIG


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_worker_stops_during_a_producer_restart_the_broker_does_not_answer() -> None:
    async def stop_while_resetting() -> tuple[float, bool]:
        worker = Worker(Settings(bootstrap_servers=f"127.0.0.1:{closed_port()}"), CONFIG)
        try:
            resetting = asyncio.create_task(worker._reset())
            await asyncio.sleep(0.5)
            assert not resetting.done()  # the restart waits on the broker
            asked = time.monotonic()
            worker.stopping.set()
            await asyncio.wait_for(resetting, 5)
            return time.monotonic() - asked, bool(worker.pending)
        finally:
            await worker.stop()

    waited, restoring = asyncio.run(stop_while_resetting())
    assert waited < 1.0
    assert not restoring  # nothing is queued for a restore that will not come
