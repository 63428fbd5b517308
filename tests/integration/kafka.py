"""Real parts for the integration tests: a Kafka broker from deploy/kafka/kafka.sh, riskmon
worker processes, and readers of whole topics."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.kafka.client import read_committed
from streams.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = ROOT / "deploy" / "kafka" / "kafka.sh"
INPUT_KINDS = ("marks", "positions", "balances", "instruments", "fund", "depth")
TOPIC_KINDS = (*INPUT_KINDS, "liquidations", "dlq", "changelog", "snapshots", "projections")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Broker:
    """One KRaft broker+controller started by the project's own script."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, action: str) -> None:
        env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_DATA_DIR": str(self.data_dir),
            **self.extra_env,
        }
        result = subprocess.run(
            [str(KAFKA_SCRIPT), action],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            raise RuntimeError(f"kafka.sh {action} failed:\n{result.stdout}\n{result.stderr}")

    def up(self) -> None:
        self._run("up")

    def down(self) -> None:
        self._run("down")


@dataclass
class Stack:
    """Topic names and a group of one test, isolated from other tests on the same broker."""

    broker: Broker
    name: str
    partitions: int = 4
    extra: dict[str, str] = field(default_factory=dict)
    # a snapshot every few hundred changelog entries: restores in tests read snapshots
    snapshot_records: int = 300

    def topic(self, kind: str) -> str:
        return f"{self.name}.{kind}"

    def env(self, worker_id: str = "w0", web_port: int = 0) -> dict[str, str]:
        settings = {
            "RISKMON_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "RISKMON_GROUP_ID": self.name,
            "RISKMON_WORKER_ID": worker_id,
            "RISKMON_PARTITIONS": str(self.partitions),
            "RISKMON_WEB_PORT": str(web_port or free_port()),
            "RISKMON_SNAPSHOT_RECORDS": str(self.snapshot_records),
            **{f"RISKMON_TOPIC_{kind.upper()}": self.topic(kind) for kind in TOPIC_KINDS},
            **self.extra,
        }
        clean = {key: value for key, value in os.environ.items() if not key.startswith("RISKMON_")}
        # numpy's overflow and invalid-value warnings fail the worker as they fail the tests
        # in this process (pyproject.toml): nothing may print one (SPEC §13)
        return {**clean, "PYTHONWARNINGS": "error::RuntimeWarning", **settings}

    def riskmon(
        self, *arguments: str, timeout: float = 300, worker_id: str = "w0", web_port: int = 0
    ) -> subprocess.CompletedProcess[str]:
        """Run a riskmon command to its end with this stack's settings."""
        return subprocess.run(
            [sys.executable, "-m", "streams.cli", *arguments],
            check=False,
            env=self.env(worker_id, web_port),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


class WorkerProcess:
    """`riskmon worker` in a subprocess, its output in a log file."""

    def __init__(self, stack: Stack, worker_id: str, log_dir: Path) -> None:
        self.web_port = free_port()
        self.env = stack.env(worker_id, self.web_port)
        self.log_path = log_dir / f"{worker_id}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.web_port}/health", timeout=2
            ) as response:
                document: dict[str, Any] = json.load(response)
                return document
        except (OSError, ValueError):
            return None

    def get(self, path: str) -> tuple[int, Any]:
        """Status and JSON body of a GET on this worker's HTTP API."""
        url = f"http://127.0.0.1:{self.web_port}{path}"
        status, body = self.ask(urllib.request.Request(url, headers=self.authorization()))
        return status, json.loads(body)

    def post(self, path: str, body: bytes, content_type: str) -> tuple[int, str]:
        """Status and body text of a POST on this worker's HTTP API."""
        url = f"http://127.0.0.1:{self.web_port}{path}"
        headers = {"Content-Type": content_type, **self.authorization()}
        return self.ask(urllib.request.Request(url, body, headers, method="POST"))

    def authorization(self) -> dict[str, str]:
        """The bearer token of the worker's RISKMON_API_TOKEN, when it has one."""
        token = self.env.get("RISKMON_API_TOKEN")
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    @staticmethod
    def ask(request: urllib.request.Request) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def freeze(self) -> None:
        """SIGSTOP: the process holds its connections and its open transaction, and answers
        nothing, heartbeats included, until `thaw`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """kill -9: no clean shutdown, an open transaction left behind."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]


def read_topic(stack: Stack, kind: str) -> list[Message]:
    """Every committed record of `topic` now, in partition and offset order."""
    return asyncio.run(_read_topic(stack, stack.topic(kind)))


async def _read_topic(stack: Stack, topic: str) -> list[Message]:
    settings = load_settings(settings_view(stack.env()))
    found = [
        Message(
            record.topic,
            record.partition,
            record.offset,
            record.key,
            record.value,
            {name: value.decode() for name, value in record.headers},
        )
        async for record in read_committed(settings, topic)
    ]
    return sorted(found, key=lambda message: (message.partition, message.offset))


def wait_for(condition: Callable[[], bool], timeout: float, what: str, poll: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def records_by_event_id(messages: list[Message]) -> tuple[dict[str, str], list[str]]:
    """De-duplicate the liquidation topic by event_id; also list ids seen with two records."""
    by_id: dict[str, str] = {}
    conflicts: list[str] = []
    for message in messages:
        assert message.value is not None
        text = message.value.decode()
        event_id = json.loads(text)["event_id"]
        if event_id in by_id and by_id[event_id] != text:
            conflicts.append(event_id)
        by_id[event_id] = text
        assert message.key == json.loads(text)["margin_account"].encode()
    return by_id, conflicts


def settings_view(env: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if key.startswith("RISKMON_")}
