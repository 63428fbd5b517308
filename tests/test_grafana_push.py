"""`riskmon dashboards push`: what reaches Grafana's HTTP API, and every refusal as one line.

There is no Grafana server on this machine (no binary in the package registries), so the
server here is a loopback HTTP server answering the five endpoints the push uses the way
Grafana's HTTP API documents them: bearer-token auth (401 "Invalid API key"), 404 for a
missing folder or datasource, folder creation, and `POST /api/dashboards/db` that bumps the
version on overwrite and refuses a stale one with 412. The client under test is the real
grafana-client over real HTTP.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dashboards.generate import DASHBOARDS
from streams.cli import main

TOKEN = "glsa_riskmon_test"


@dataclass
class GrafanaState:
    """What the server holds, and every request it got (method, path, JSON body)."""

    datasources: set[str] = field(default_factory=lambda: {"prometheus"})
    folders: dict[str, str] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)


class GrafanaHandler(BaseHTTPRequestHandler):
    state: GrafanaState

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the requests are recorded in `state`."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.state.requests.append((method, self.path, body))
        if self.path == "/api/health":
            self._answer(200, {"database": "ok", "version": "11.3.0"})
        elif self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._answer(401, {"message": "Invalid API key"})
        else:
            self._answer(*self._route(method, self.path, body))

    def _route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        state = self.state
        if method == "GET" and (match := re.fullmatch(r"/api/datasources/uid/(.+)", path)):
            if match.group(1) in state.datasources:
                return 200, {"uid": match.group(1), "type": "prometheus"}
            return 404, {"message": "Data source not found"}
        if method == "GET" and (match := re.fullmatch(r"/api/folders/(.+)", path)):
            uid = match.group(1)
            if uid in state.folders:
                return 200, {"uid": uid, "title": state.folders[uid]}
            return 404, {"message": "folder not found"}
        if method == "POST" and path == "/api/folders":
            state.folders[body["uid"]] = body["title"]
            return 200, {"uid": body["uid"], "title": body["title"]}
        if method == "POST" and path == "/api/dashboards/db":
            return self._save_dashboard(body)
        return 404, {"message": "Not found"}

    def _save_dashboard(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        board, folder = body["dashboard"], body.get("folderUid")
        if folder not in self.state.folders:
            return 400, {"message": "folder not found"}
        stored = self.state.dashboards.get(board["uid"])
        if stored and not body.get("overwrite") and stored["version"] != board.get("version"):
            return 412, {"message": "The dashboard has been changed by someone else"}
        version = stored["version"] + 1 if stored else 1
        self.state.dashboards[board["uid"]] = {**board, "version": version, "folder": folder}
        slug = board["uid"]
        return 200, {"status": "success", "uid": slug, "url": f"/d/{slug}/x", "version": version}

    def _answer(self, status: int, document: dict[str, Any]) -> None:
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def grafana() -> Iterator[tuple[str, GrafanaState]]:
    state = GrafanaState()
    handler = type("Handler", (GrafanaHandler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def push(url: str, *extra: str) -> int:
    return main(["dashboards", "push", "--url", url, *extra])


def datasource_uids(value: Any) -> set[str]:
    """Every uid of a `{"type": "prometheus", "uid": ...}` reference inside a JSON value."""
    if isinstance(value, dict):
        found = (
            {str(value["uid"])} if value.get("type") == "prometheus" and "uid" in value else set()
        )
        return found.union(*(datasource_uids(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(datasource_uids(item) for item in value))
    return set()


def test_push_creates_the_folder_and_uploads_every_dashboard(
    grafana: tuple[str, GrafanaState], capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = grafana
    assert push(url, "--token", TOKEN) == 0
    assert state.folders == {"riskmon": "riskmon"}
    expected = {board["uid"]: board for board in (build() for build in DASHBOARDS)}
    assert set(state.dashboards) == set(expected)
    for uid, stored in state.dashboards.items():
        assert stored["folder"] == "riskmon"
        assert stored["version"] == 1
        assert {k: v for k, v in stored.items() if k not in ("folder", "version", "id")} == {
            k: v for k, v in expected[uid].items() if k != "version"
        }
    posts = [body for method, path, body in state.requests if path == "/api/dashboards/db"]
    assert [body["overwrite"] for body in posts] == [True, True, True]
    assert all(body["dashboard"]["id"] is None for body in posts)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"grafana 11.3.0 at {url}"
    assert lines[1:] == [
        f"pushed {board['title']}: version 1 /d/{uid}/x" for uid, board in expected.items()
    ]


def test_a_second_push_replaces_the_dashboards_and_keeps_the_folder(
    grafana: tuple[str, GrafanaState],
) -> None:
    url, state = grafana
    assert push(url, "--token", TOKEN) == 0
    assert push(url, "--token", TOKEN) == 0
    assert [path for method, path, _ in state.requests if method == "POST"].count(
        "/api/folders"
    ) == 1
    assert {stored["version"] for stored in state.dashboards.values()} == {2}


def test_datasource_uid_points_every_query_at_another_prometheus(
    grafana: tuple[str, GrafanaState],
) -> None:
    url, state = grafana
    state.datasources = {"prom-eu"}
    assert push(url, "--token", TOKEN, "--datasource-uid", "prom-eu", "--folder", "risk") == 0
    assert state.folders == {"risk": "riskmon"}
    for stored in state.dashboards.values():
        assert datasource_uids(stored) == {"prom-eu"}
    original = datasource_uids([build() for build in DASHBOARDS])
    assert original == {"prometheus"}


def test_the_token_can_come_from_the_environment(
    grafana: tuple[str, GrafanaState], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = grafana
    monkeypatch.setenv("RISKMON_GRAFANA_TOKEN", TOKEN)
    assert push(url) == 0
    assert len(state.dashboards) == len(DASHBOARDS)


@pytest.mark.parametrize(
    "case",
    [
        (
            ["--token", "wrong"],
            {"prometheus"},
            "cannot find the datasource uid 'prometheus' (pass --datasource-uid): "
            "HTTP 401: Invalid API key",
        ),
        (
            ["--token", TOKEN],
            {"other"},
            "cannot find the datasource uid 'prometheus' (pass --datasource-uid): "
            "HTTP 404: Data source not found",
        ),
        ([], {"prometheus"}, "no Grafana token: pass --token or set RISKMON_GRAFANA_TOKEN"),
    ],
    ids=["bad-token", "missing-datasource", "no-token"],
)
def test_refusals_are_one_line_and_upload_nothing(
    grafana: tuple[str, GrafanaState],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[list[str], set[str], str],
) -> None:
    arguments, datasources, message = case
    url, state = grafana
    monkeypatch.delenv("RISKMON_GRAFANA_TOKEN", raising=False)
    state.datasources = datasources
    assert push(url, *arguments) == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"riskmon: error: {message}"
    assert state.dashboards == {}
    assert state.folders == {}


def test_an_unreachable_grafana_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), GrafanaHandler) as closed:
        url = f"http://127.0.0.1:{closed.server_address[1]}"
    assert push(url, "--token", TOKEN) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"riskmon: error: cannot reach Grafana at {url}: ")
    assert "\n" not in error
