"""The one settings object, read from the environment (prefix `RISKMON_`) at the edge only.

Every field has a default that works against the local broker (`make kafka-up`); the table of
variables is in docs/STREAMS.md. Bad values raise `SettingsError` with the variable's name.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Final

PREFIX: Final = "RISKMON_"
SECURITY_PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class SettingsError(Exception):
    """A setting that cannot be used; the message names the environment variable."""


@dataclass(frozen=True)
class Topics:
    """Topic names (SPEC §3, §7, §8, §9); `changelog` is the workers' compacted state topic,
    `snapshots` their compacted binary snapshots of it (docs/STREAMS.md, "Snapshots").

    SPEC §8 publishes the fund projections on `riskmon.fund`, so the `fund` input events
    (balances of the insurance funds) have their own topic, `riskmon.fund.balances`.
    """

    marks: str = "riskmon.marks"
    positions: str = "riskmon.positions"
    balances: str = "riskmon.balances"
    instruments: str = "riskmon.instruments"
    fund: str = "riskmon.fund.balances"
    depth: str = "riskmon.depth"
    projections: str = "riskmon.fund"
    liquidations: str = "riskmon.liquidations"
    dlq: str = "riskmon.dlq"
    changelog: str = "riskmon.changelog"
    snapshots: str = "riskmon.snapshots"

    def by_type(self) -> dict[str, str]:
        """Input topic of each event type."""
        return {
            "mark": self.marks,
            "position": self.positions,
            "balance": self.balances,
            "instrument": self.instruments,
            "fund": self.fund,
            "depth": self.depth,
        }


@dataclass(frozen=True)
class Security:
    """Passed through to the Kafka clients: protocol, SASL (PLAIN, SCRAM) and TLS files."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: str | None = field(default=None, repr=False)
    ssl_check_hostname: bool = True


@dataclass(frozen=True)
class WebAccess:
    """Who may use the HTTP API (SPEC §13): the bearer token every endpoint but `/metrics` and
    `/health` requires when set, and the server's TLS files (PEM); `cafile` verifies the other
    workers' certificates when they ask each other."""

    token: str | None = field(default=None, repr=False)
    allow_anonymous: bool = False
    certfile: Path | None = None
    keyfile: Path | None = None
    cafile: Path | None = None

    @property
    def scheme(self) -> str:
        return "http" if self.certfile is None else "https"


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = "127.0.0.1:9092"
    group_id: str = "riskmon"
    worker_id: str = field(default_factory=socket.gethostname)
    partitions: int = 12
    replication_factor: int = 1
    config: Path | None = None
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    web_url: str = "http://127.0.0.1:6066"
    max_batch_events: int = 5000
    round_ms: int = 50
    order_grace_ms: int = 50
    snapshot_records: int = 200_000
    grafana_token: str | None = field(default=None, repr=False)
    topics: Topics = field(default_factory=Topics)
    security: Security = field(default_factory=Security)
    web_access: WebAccess = field(default_factory=WebAccess)

    @property
    def transactional_id(self) -> str:
        """Stable per worker, so a restarted worker fences its previous incarnation."""
        return f"{self.group_id}-{self.worker_id}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `environ` (default `os.environ`); unknown RISKMON_ variables are errors."""
    source = os.environ if environ is None else environ
    reader = _Reader(source)
    defaults = Topics()
    topics = Topics(
        **{
            item.name: reader.text(f"TOPIC_{item.name.upper()}", getattr(defaults, item.name))
            for item in fields(Topics)
        }
    )
    security = Security(
        protocol=reader.choice("SECURITY_PROTOCOL", "PLAINTEXT", SECURITY_PROTOCOLS),
        sasl_mechanism=reader.choice("SASL_MECHANISM", "PLAIN", SASL_MECHANISMS),
        sasl_username=reader.optional("SASL_USERNAME"),
        sasl_password=reader.optional("SASL_PASSWORD"),
        ssl_cafile=reader.path("SSL_CAFILE"),
        ssl_certfile=reader.path("SSL_CERTFILE"),
        ssl_keyfile=reader.path("SSL_KEYFILE"),
        ssl_key_password=reader.optional("SSL_KEY_PASSWORD"),
        ssl_check_hostname=reader.flag("SSL_CHECK_HOSTNAME", default=True),
    )
    if security.protocol.startswith("SASL") and not (
        security.sasl_username and security.sasl_password
    ):
        raise SettingsError(
            f"{PREFIX}SECURITY_PROTOCOL={security.protocol} needs {PREFIX}SASL_USERNAME "
            f"and {PREFIX}SASL_PASSWORD"
        )
    web_host = reader.text("WEB_HOST", "127.0.0.1")
    web_port = reader.integer("WEB_PORT", 6066, minimum=0, maximum=65535)
    reachable = socket.gethostname() if web_host in ("0.0.0.0", "::") else web_host
    access = _web_access(reader)
    settings = Settings(
        bootstrap_servers=reader.text("KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        group_id=reader.text("GROUP_ID", "riskmon"),
        worker_id=reader.text("WORKER_ID", socket.gethostname()),
        partitions=reader.integer("PARTITIONS", 12, minimum=1),
        replication_factor=reader.integer("REPLICATION_FACTOR", 1, minimum=1),
        config=reader.path("CONFIG"),
        web_host=web_host,
        web_port=web_port,
        web_url=reader.text("WEB_URL", f"{access.scheme}://{reachable}:{web_port}").rstrip("/"),
        max_batch_events=reader.integer("MAX_BATCH_EVENTS", 5000, minimum=1),
        round_ms=reader.integer("ROUND_MS", 50, minimum=1),
        order_grace_ms=reader.integer("ORDER_GRACE_MS", 50, minimum=0),
        snapshot_records=reader.integer("SNAPSHOT_RECORDS", 200_000, minimum=0),
        grafana_token=reader.optional("GRAFANA_TOKEN"),
        topics=topics,
        security=security,
        web_access=access,
    )
    reader.check_unused()
    return settings


MIN_TOKEN_LENGTH: Final = 16


def _web_access(reader: _Reader) -> WebAccess:
    token, token_file = reader.optional("API_TOKEN"), reader.path("API_TOKEN_FILE")
    if token is not None and token_file is not None:
        raise SettingsError(f"set {PREFIX}API_TOKEN or {PREFIX}API_TOKEN_FILE, not both")
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as error:
            raise SettingsError(f"{PREFIX}API_TOKEN_FILE {token_file}: {error}") from None
    name = f"{PREFIX}API_TOKEN" + ("_FILE" if token_file is not None else "")
    if token is not None and (
        len(token) < MIN_TOKEN_LENGTH or any(ord(c) <= 32 or ord(c) == 127 for c in token)
    ):
        raise SettingsError(
            f"{name}: the token must be at least {MIN_TOKEN_LENGTH} characters with no blanks "
            "or control characters (e.g. `openssl rand -hex 32`)"
        )
    access = WebAccess(
        token=token,
        allow_anonymous=reader.flag("WEB_ALLOW_ANONYMOUS", default=False),
        certfile=reader.path("WEB_TLS_CERTFILE"),
        keyfile=reader.path("WEB_TLS_KEYFILE"),
        cafile=reader.path("WEB_TLS_CAFILE"),
    )
    if (access.certfile is None) != (access.keyfile is None):
        raise SettingsError(f"{PREFIX}WEB_TLS_CERTFILE and {PREFIX}WEB_TLS_KEYFILE go together")
    return access


def check_web_binding(settings: Settings) -> None:
    """SPEC §13: without a token the API is served on loopback only, unless anonymous access
    is allowed in so many words."""
    access = settings.web_access
    if access.token is None and not access.allow_anonymous and not _loopback(settings.web_host):
        raise SettingsError(
            f"{PREFIX}WEB_HOST={settings.web_host} is reachable beyond this machine and the API "
            f"has no token: set {PREFIX}API_TOKEN (or {PREFIX}API_TOKEN_FILE), or "
            f"{PREFIX}WEB_ALLOW_ANONYMOUS=true"
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


class _Reader:
    """Typed reads of RISKMON_ variables that remember which ones were used."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.used: set[str] = set()

    def optional(self, name: str) -> str | None:
        self.used.add(PREFIX + name)
        value = self.environ.get(PREFIX + name)
        return value if value else None

    def text(self, name: str, default: str) -> str:
        value = self.optional(name)
        if value is None:
            return default
        if value != value.strip() or any(ord(character) < 32 for character in value):
            raise SettingsError(f"{PREFIX}{name} has surrounding blanks or control characters")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default).upper()
        if value not in choices:
            raise SettingsError(f"{PREFIX}{name} must be one of {', '.join(choices)}")
        return value

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        value = self.optional(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(f"{PREFIX}{name} must be an integer, not {value!r}") from None
        if number < minimum or (maximum is not None and number > maximum):
            bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
            raise SettingsError(f"{PREFIX}{name} must be {bound}, not {number}")
        return number

    def flag(self, name: str, *, default: bool) -> bool:
        value = self.optional(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{PREFIX}{name} must be true or false, not {value!r}")

    def path(self, name: str) -> Path | None:
        value = self.optional(name)
        return None if value is None else Path(value)

    def check_unused(self) -> None:
        unknown = sorted(
            name for name in self.environ if name.startswith(PREFIX) and name not in self.used
        )
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]} (see docs/STREAMS.md)")
