"""Settings from RISKMON_ variables (streams/settings.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streams.cli import main
from streams.settings import SettingsError, check_web_binding, load_settings


def test_defaults_reach_the_local_broker() -> None:
    settings = load_settings({})
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.topics.marks == "riskmon.marks"
    assert settings.topics.liquidations == "riskmon.liquidations"
    assert (settings.web_host, settings.web_port) == ("127.0.0.1", 6066)
    assert settings.web_url == "http://127.0.0.1:6066"
    assert settings.security.protocol == "PLAINTEXT"


def test_every_part_is_configurable() -> None:
    settings = load_settings(
        {
            "RISKMON_KAFKA_BOOTSTRAP": "b1:9093,b2:9093",
            "RISKMON_GROUP_ID": "risk",
            "RISKMON_WORKER_ID": "risk-3",
            "RISKMON_TOPIC_MARKS": "venue.marks",
            "RISKMON_TOPIC_DLQ": "venue.dlq",
            "RISKMON_SECURITY_PROTOCOL": "sasl_ssl",
            "RISKMON_SASL_MECHANISM": "scram-sha-512",
            "RISKMON_SASL_USERNAME": "svc",
            "RISKMON_SASL_PASSWORD": "pw",
            "RISKMON_SSL_CAFILE": "/etc/ca.pem",
            "RISKMON_WEB_HOST": "0.0.0.0",
            "RISKMON_WEB_URL": "http://risk-3.risk:6066/",
            "RISKMON_PARTITIONS": "24",
        }
    )
    assert settings.topics.marks == "venue.marks"
    assert settings.topics.dlq == "venue.dlq"
    assert settings.transactional_id == "risk-risk-3"
    assert (settings.security.protocol, settings.security.sasl_mechanism) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
    )
    assert str(settings.security.ssl_cafile) == "/etc/ca.pem"
    assert settings.web_url == "http://risk-3.risk:6066"
    assert settings.partitions == 24
    assert "pw" not in repr(settings)  # secrets stay out of logs


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"RISKMON_PARTITION": "3"}, "unknown setting RISKMON_PARTITION"),
        ({"RISKMON_PARTITIONS": "0"}, "RISKMON_PARTITIONS must be >= 1, not 0"),
        ({"RISKMON_WEB_PORT": "http"}, "RISKMON_WEB_PORT must be an integer"),
        ({"RISKMON_SECURITY_PROTOCOL": "TLS"}, "RISKMON_SECURITY_PROTOCOL must be one of"),
        ({"RISKMON_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "needs RISKMON_SASL_USERNAME"),
        ({"RISKMON_SSL_CHECK_HOSTNAME": "maybe"}, "must be true or false"),
        ({"RISKMON_GROUP_ID": " risk"}, "surrounding blanks"),
    ],
)
def test_bad_settings_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(environ)


TOKEN = "0123456789abcdef0123"


def test_the_api_token_comes_from_the_variable_or_a_file(tmp_path: Path) -> None:
    assert load_settings({}).web_access.token is None
    assert load_settings({"RISKMON_API_TOKEN": TOKEN}).web_access.token == TOKEN
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")  # as `echo` or a Kubernetes secret leaves it
    access = load_settings({"RISKMON_API_TOKEN_FILE": str(secret)}).web_access
    assert access.token == TOKEN
    assert TOKEN not in repr(load_settings({"RISKMON_API_TOKEN": TOKEN}))


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"RISKMON_API_TOKEN": TOKEN, "RISKMON_API_TOKEN_FILE": "/t"},
            "set RISKMON_API_TOKEN or RISKMON_API_TOKEN_FILE, not both",
        ),
        ({"RISKMON_API_TOKEN_FILE": "/no/such/token"}, "RISKMON_API_TOKEN_FILE /no/such/token"),
        ({"RISKMON_API_TOKEN": "short"}, "RISKMON_API_TOKEN: the token must be at least 16"),
        ({"RISKMON_API_TOKEN": "has a blank in it!"}, "no blanks or control characters"),
        (
            {"RISKMON_WEB_TLS_CERTFILE": "/c.pem"},
            "RISKMON_WEB_TLS_CERTFILE and RISKMON_WEB_TLS_KEYFILE go together",
        ),
        ({"RISKMON_WEB_ALLOW_ANONYMOUS": "maybe"}, "must be true or false"),
    ],
)
def test_bad_access_settings_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(environ)


@pytest.mark.parametrize(
    ("environ", "allowed"),
    [
        ({}, True),
        ({"RISKMON_WEB_HOST": "127.0.0.5"}, True),
        ({"RISKMON_WEB_HOST": "::1"}, True),
        ({"RISKMON_WEB_HOST": "localhost"}, True),
        ({"RISKMON_WEB_HOST": "0.0.0.0"}, False),
        ({"RISKMON_WEB_HOST": "10.1.2.3"}, False),
        ({"RISKMON_WEB_HOST": "risk-3.internal"}, False),
        ({"RISKMON_WEB_HOST": "0.0.0.0", "RISKMON_API_TOKEN": TOKEN}, True),
        ({"RISKMON_WEB_HOST": "0.0.0.0", "RISKMON_WEB_ALLOW_ANONYMOUS": "true"}, True),
    ],
)
def test_without_a_token_the_api_binds_loopback_only(
    environ: dict[str, str], allowed: bool
) -> None:
    settings = load_settings(environ)
    if allowed:
        check_web_binding(settings)
    else:
        with pytest.raises(SettingsError, match=r"set RISKMON_API_TOKEN .* or RISKMON_WEB_ALLOW"):
            check_web_binding(settings)


def test_a_certificate_makes_the_url_https() -> None:
    environ = {"RISKMON_WEB_TLS_CERTFILE": "/c.pem", "RISKMON_WEB_TLS_KEYFILE": "/k.pem"}
    assert load_settings(environ).web_url == "https://127.0.0.1:6066"


def test_a_worker_without_a_token_will_not_serve_beyond_loopback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RISKMON_WEB_HOST", "0.0.0.0")
    monkeypatch.setenv("RISKMON_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # never reached
    assert main(["worker"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("riskmon: error: RISKMON_WEB_HOST=0.0.0.0 is reachable beyond")
