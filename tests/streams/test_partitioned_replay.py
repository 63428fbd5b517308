"""Partitioned replay: the union of every task's output is the whole-file replay, except the
`ts` of instrument-triggered records, which is the owning task's replay time (docs/STREAMS.md).
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import parse_config
from streams.kafka.partitioning import line_partition, partition_of, partitioned_replay
from streams.replay import replay_lines
from streams.settings import Settings
from tests.streamgen import config_text, generate_stream


def test_partition_of_matches_kafkas_murmur2() -> None:
    # From Kafka 3.9.1's Utils.murmur2(key) & 0x7fffffff, modulo 4 and 12, run in Java.
    java = {b"a": (0, 4), b"acct01": (1, 5), b"trader-054": (0, 4), b"a1": (3, 11)}
    for key, (of_4, of_12) in java.items():
        assert (partition_of(key, 4), partition_of(key, 12)) == (of_4, of_12)


def test_account_lines_are_keyed_by_account_and_broadcasts_have_no_owner() -> None:
    settings_ = Settings(partitions=4)
    position = b'{"type":"position","account":"acct01","symbol":"X","size":1,"ts":1}'
    assert line_partition(position, settings_) == 1
    assert line_partition(b'{"type":"mark","symbol":"X","price":1,"ts":1}', settings_) is None
    assert line_partition(b'{"type":"balance","account":5}', settings_) is None
    assert line_partition(b"{broken", settings_) is None


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), partitions=st.integers(1, 6))
def test_union_of_partitions_is_the_replay(seed: int, partitions: int) -> None:
    lines, instruments = generate_stream(seed, 600)
    config = parse_config(config_text(instruments), "test")
    raw = [line.encode() for line in lines]
    whole: list[str] = []
    replay_lines(raw, config.engine(), whole.append)
    parts = partitioned_replay(raw, Settings(partitions=partitions), config)
    union: dict[str, dict[str, Any]] = {}
    for records in parts.values():
        for record in records:
            parsed = json.loads(record)
            assert parsed["event_id"] not in union
            union[parsed["event_id"]] = parsed
    expected = {json.loads(record)["event_id"]: json.loads(record) for record in whole}
    assert union.keys() == expected.keys()
    for event_id, record in expected.items():
        mine = union[event_id]
        if record["trigger"] == "instrument":
            assert mine["ts"] <= record["ts"]
            mine = {**mine, "ts": record["ts"]}
        assert mine == record, event_id
