"""Settings from RISKMON_ variables (streams/settings.py)."""

from __future__ import annotations

import pytest

from streams.settings import SettingsError, load_settings


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
