"""The session's Kafka broker. Outside CI the integration tests skip when no broker can start
(no Java or Maven, or Maven Central out of reach); with CI=true they must run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.integration.kafka import Broker


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs a real Kafka broker: {reason}")
    pytest.skip(reason)


def launch(broker: Broker) -> Broker:
    """Start `broker`; skip (fail under CI) when it cannot start here."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        unavailable(f"{', '.join(missing)} not installed")
    try:
        broker.up()
    except RuntimeError as error:
        unavailable(str(error))
    return broker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    started = launch(Broker(tmp_path_factory.mktemp("kafka")))
    yield started
    started.down()
