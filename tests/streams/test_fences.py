"""The worker's count of group-consumer fences: a duplicate worker id is told from a rejoin."""

from __future__ import annotations

import pytest

from streams.kafka.client import BrokerError
from streams.kafka.clients import Fences


def test_two_fences_rejoin_and_the_third_in_the_window_names_the_worker_id() -> None:
    fences = Fences("w7")
    fences.count("first")
    fences.count("second")
    with pytest.raises(BrokerError, match=r"fenced 3 times in 120 s \(third\).*'w7'"):
        fences.count("third")


def test_fences_older_than_the_window_are_forgotten() -> None:
    fences = Fences("w7")
    fences.count("first")
    fences.count("second")
    fences.times = [at - Fences.WINDOW_SECONDS - 1 for at in fences.times]
    fences.count("third")
    assert len(fences.times) == 1
