"""Issue test (e): a broker that demands SASL/SCRAM over TLS.

The worker and `riskmon publish` connect with credentials and a CA file from settings; a wrong
password or a missing CA fails fast, with exit status 2 and a message that says what to fix.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import launch, unavailable
from tests.integration.kafka import Broker, Stack, WorkerProcess, free_port, wait_for
from tests.integration.scenario import (
    Scenario,
    assert_dead_letters_match,
    assert_transitions_match,
    dead_letter_count,
    has_every_transition,
)
from tests.integration.tls import make_certificates

pytestmark = pytest.mark.integration
USER, PASSWORD, ADMIN_PASSWORD = "riskmon", "riskmon-secret", "admin-secret"
JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required"


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Path]]:
    if shutil.which("openssl") is None:
        unavailable("openssl not installed")
    directory = tmp_path_factory.mktemp("secure-kafka")
    ca, keystore = make_certificates(directory / "tls")
    port, controller = free_port(), free_port()
    admin = f'{JAAS} username="admin" password="{ADMIN_PASSWORD}";'
    extra = directory / "extra.properties"
    extra.write_text(
        "\n".join(
            [
                f"listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=SASL_SSL://127.0.0.1:{port}",
                "inter.broker.listener.name=SASL_SSL",
                "sasl.enabled.mechanisms=SCRAM-SHA-256",
                "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256",
                f"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={admin}",
                "ssl.keystore.type=PEM",
                f"ssl.keystore.location={keystore}",
                "ssl.truststore.type=PEM",
                f"ssl.truststore.location={ca}",
                "",
            ]
        )
    )
    client = directory / "client.properties"
    client.write_text(
        "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256\n"
        f"sasl.jaas.config={admin}\nssl.truststore.type=PEM\nssl.truststore.location={ca}\n"
    )
    scram = [
        f"SCRAM-SHA-256=[name=admin,password={ADMIN_PASSWORD}]",
        f"SCRAM-SHA-256=[name={USER},password={PASSWORD}]",
    ]
    broker = Broker(directory / "data", port=port, controller_port=controller)
    broker.extra_env = {
        "KAFKA_EXTRA_CONFIG": str(extra),
        "KAFKA_CLIENT_CONFIG": str(client),
        "KAFKA_FORMAT_ARGS": " ".join(f"--add-scram {item}" for item in scram),
    }
    yield launch(broker), ca
    broker.down()


def secure_stack(broker: Broker, ca: Path, name: str, password: str, **extra: str) -> Stack:
    settings = {
        "RISKMON_SECURITY_PROTOCOL": "SASL_SSL",
        "RISKMON_SASL_MECHANISM": "SCRAM-SHA-256",
        "RISKMON_SASL_USERNAME": USER,
        "RISKMON_SASL_PASSWORD": password,
        "RISKMON_SSL_CAFILE": str(ca),
        **extra,
    }
    return Stack(broker, name, 2, extra={key: value for key, value in settings.items() if value})


def test_e_worker_with_credentials_gives_the_replay(
    secure_broker: tuple[Broker, Path], tmp_path: Path
) -> None:
    broker, ca = secure_broker
    scenario = Scenario.generate(tmp_path, seed=5, size=400, partitions=2)
    stack = secure_stack(broker, ca, "secure", PASSWORD, RISKMON_CONFIG=str(scenario.config))
    published = stack.riskmon("publish", str(scenario.events), "--interval-ms", "1")
    assert published.returncode == 0, published.stderr
    worker = WorkerProcess(stack, "w1", tmp_path).start()
    try:
        wait_for(lambda: has_every_transition(stack, scenario), 120, "every transition")
        wait_for(lambda: dead_letter_count(stack) >= len(scenario.dead_letters), 60, "DLQ")
        assert_transitions_match(stack, scenario)
        assert_dead_letters_match(stack, scenario)
    finally:
        stopped = worker.stop()
    assert stopped == 0, worker.log()[-3000:]


def test_e_wrong_password_fails_fast_and_says_so(secure_broker: tuple[Broker, Path]) -> None:
    broker, ca = secure_broker
    stack = secure_stack(broker, ca, "secure-wrong", "not-the-password")
    started = time.monotonic()
    result = stack.riskmon("worker", timeout=120)
    assert result.returncode == 2
    assert time.monotonic() - started < 20
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"riskmon: error: authentication failed at {broker.bootstrap} for user '{USER}' "
        "(SCRAM-SHA-256): check RISKMON_SASL_USERNAME / RISKMON_SASL_PASSWORD"
    )


def test_e_an_untrusted_broker_certificate_is_refused(
    secure_broker: tuple[Broker, Path], tmp_path: Path
) -> None:
    broker, ca = secure_broker
    stack = secure_stack(broker, ca, "secure-untrusted", PASSWORD, RISKMON_SSL_CAFILE="")
    events = tmp_path / "one.jsonl"
    events.write_text('{"type": "mark", "symbol": "BTCUSDT", "price": 1, "ts": 1}\n')
    result = stack.riskmon("publish", str(events), timeout=120)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"riskmon: error: TLS handshake with {broker.bootstrap} failed:")
    assert "CERTIFICATE_VERIFY_FAILED" in last
