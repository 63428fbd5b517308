"""`riskmon dashboards push`: upload the dashboards of `dashboards/` to a running Grafana.

Through grafana-client (the maintained fork of grafana-api), over Grafana's HTTP API:

1. `GET /api/health` (no auth): the server answers (else: one-line error naming the URL);
2. `GET /api/datasources/uid/{uid}`: the Prometheus datasource the panels will query exists
   (the generated JSON names uid `prometheus`, the provisioned one; `--datasource-uid` points
   every panel, target and variable at another);
3. `GET /api/folders/{uid}`, and `POST /api/folders` when it is missing;
4. `POST /api/dashboards/db` per dashboard with `overwrite: true`, so a push replaces what an
   earlier push (or a hand edit) left, and Grafana keeps the old one as a version.

Any refusal (401 token, 403 permissions, 412 conflict, 5xx) ends the push with `PushError`,
one line naming the step and Grafana's own message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from dashboards.generate import DASHBOARDS, DATASOURCE

NOT_FOUND: Final = 404
PUSH_MESSAGE: Final = "riskmon dashboards push"


class PushError(Exception):
    """A push that cannot go on; the message is one line for the operator."""


@dataclass(frozen=True)
class PushTarget:
    """Where the dashboards go: a Grafana URL, its token, a folder and a datasource uid."""

    url: str
    token: str
    folder_uid: str = "riskmon"
    folder_title: str = "riskmon"
    datasource_uid: str = str(DATASOURCE["uid"])
    timeout_seconds: float = 10.0


def dashboards_for(datasource_uid: str) -> list[dict[str, Any]]:
    """The generated dashboards, every datasource reference pointed at `datasource_uid`."""
    return [_with_datasource(build(), datasource_uid) for build in DASHBOARDS]


def push_dashboards(target: PushTarget, say: Callable[[str], None]) -> list[str]:
    """Upload every dashboard; returns the URL path Grafana gives each. Raises PushError."""
    grafana = GrafanaApi.from_url(
        target.url, credential=target.token, timeout=target.timeout_seconds
    )
    health = _step(f"reach Grafana at {target.url}", partial(grafana.client.GET, "/health"))
    say(f"grafana {health.get('version', '?')} at {target.url}")
    _step(
        f"find the datasource uid {target.datasource_uid!r} (pass --datasource-uid)",
        lambda: grafana.datasource.get_datasource_by_uid(target.datasource_uid),
    )
    _ensure_folder(grafana, target)
    paths = []
    for board in dashboards_for(target.datasource_uid):
        payload = {
            "dashboard": {**board, "id": None},
            "folderUid": target.folder_uid,
            "overwrite": True,
            "message": PUSH_MESSAGE,
        }
        answer = _step(
            f"upload dashboard {board['uid']}", partial(grafana.dashboard.update_dashboard, payload)
        )
        path = str(answer.get("url", ""))
        say(f"pushed {board['title']}: version {answer.get('version', '?')} {path}")
        paths.append(path)
    return paths


def _ensure_folder(grafana: GrafanaApi, target: PushTarget) -> None:
    """Create the folder unless it is there (404 is the only answer that means missing)."""
    what = f"read folder {target.folder_uid}"
    try:
        grafana.folder.get_folder(target.folder_uid)
        return
    except GrafanaClientError as error:
        if error.status_code != NOT_FOUND:
            raise PushError(_failure(what, error)) from None
    except (GrafanaException, OSError) as error:
        raise PushError(_failure(what, error)) from None
    _step(
        f"create folder {target.folder_uid}",
        lambda: grafana.folder.create_folder(target.folder_title, uid=target.folder_uid),
    )


def _step(what: str, call: Callable[[], Any]) -> Any:
    """Run one API call; any failure becomes a PushError saying what could not be done."""
    try:
        return call()
    except (GrafanaException, OSError) as error:  # niquests' connection errors are OSErrors
        raise PushError(_failure(what, error)) from None


def _failure(what: str, error: GrafanaException | OSError) -> str:
    if isinstance(error, OSError):
        return f"cannot {what}: {_first_line(str(error))}"
    status = f"HTTP {error.status_code}: " if error.status_code else ""
    return f"cannot {what}: {status}{_first_line(_message(error))}"


def _message(error: GrafanaException) -> str:
    response = error.response
    if isinstance(response, dict) and "message" in response:
        return str(response["message"])
    return str(error.message)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no answer"


def _with_datasource(value: Any, uid: str) -> Any:
    """A copy of a dashboard JSON value with every `{"type": "prometheus", "uid": ...}`
    reference set to `uid`."""
    if isinstance(value, dict):
        copied = {key: _with_datasource(item, uid) for key, item in value.items()}
        if copied.get("type") == DATASOURCE["type"] and set(copied) == {"type", "uid"}:
            copied["uid"] = uid
        return copied
    if isinstance(value, list):
        return [_with_datasource(item, uid) for item in value]
    return value
