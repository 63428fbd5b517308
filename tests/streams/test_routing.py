"""The owner map: every member's URL rides in its client id, its partitions in the group."""

from __future__ import annotations

from confluent_kafka import TopicPartition
from confluent_kafka.admin._group import (
    ConsumerGroupDescription,
    MemberAssignment,
    MemberDescription,
)

from streams.kafka.routing import member_client_id, member_url, owners_of
from streams.settings import Settings

POSITIONS = "riskmon.positions"


def member(client_id: str, partitions: dict[str, list[int]]) -> MemberDescription:
    assigned = [TopicPartition(topic, p) for topic, ps in partitions.items() for p in ps]
    return MemberDescription(client_id, client_id, "/127.0.0.1", MemberAssignment(assigned))


def test_a_member_client_id_carries_the_worker_url() -> None:
    settings = Settings(worker_id="w-1", web_url="http://10.0.0.7:6066")
    client_id = member_client_id(settings)
    assert client_id == "riskmon-member w-1 http://10.0.0.7:6066"
    assert member_url(client_id) == "http://10.0.0.7:6066"
    assert member_url("rdkafka") is None
    assert member_url("riskmon-w-1") is None


def test_owners_map_each_positions_partition_to_its_member_url() -> None:
    left = member_client_id(Settings(worker_id="left", web_url="http://left:6066"))
    right = member_client_id(Settings(worker_id="right", web_url="http://right:6066"))
    description = ConsumerGroupDescription(
        "riskmon",
        False,
        [
            member(left, {POSITIONS: [0, 1], "riskmon.balances": [0, 1]}),
            member(right, {POSITIONS: [2, 3], "riskmon.balances": [2, 3]}),
            member("kcat", {POSITIONS: [9]}),  # not a worker: no URL to route to
        ],
        "range",
        "STABLE",
        None,  # type: ignore[arg-type]
    )
    assert owners_of(description, POSITIONS) == {
        0: "http://left:6066",
        1: "http://left:6066",
        2: "http://right:6066",
        3: "http://right:6066",
    }
