"""The group assignor: range assignment, plus every owner's URL for every member."""

from __future__ import annotations

import json

from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata

from streams.kafka.routing import RoutingAssignor


class Cluster:
    """The one query the range assignor makes of aiokafka's ClusterMetadata."""

    def __init__(self, partitions: dict[str, int]) -> None:
        self.partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        count = self.partitions.get(topic)
        return None if count is None else set(range(count))


def test_members_get_aligned_ranges_and_the_whole_owner_map() -> None:
    topics = ["riskmon.positions", "riskmon.balances"]
    left = RoutingAssignor("http://left:6066", "riskmon.positions")
    right = RoutingAssignor("http://right:6066", "riskmon.positions")
    members = {
        "member-a": left.metadata(topics),
        "member-b": right.metadata(topics),
    }
    assert members["member-a"].user_data == b"http://left:6066"
    cluster = Cluster({"riskmon.positions": 5, "riskmon.balances": 5})
    assignments = left.assign(cluster, members)
    owned = {
        member: {topic: sorted(partitions) for topic, partitions in assignment.assignment}
        for member, assignment in assignments.items()
    }
    assert owned == {
        "member-a": {"riskmon.balances": [0, 1, 2], "riskmon.positions": [0, 1, 2]},
        "member-b": {"riskmon.balances": [3, 4], "riskmon.positions": [3, 4]},
    }
    expected = {
        0: "http://left:6066",
        1: "http://left:6066",
        2: "http://left:6066",
        3: "http://right:6066",
        4: "http://right:6066",
    }
    for member, assignor in (("member-a", left), ("member-b", right)):
        assignor.on_assignment(assignments[member])
        assert assignor.owners == expected
    assert json.loads(assignments["member-b"].user_data) == {
        str(partition): url for partition, url in expected.items()
    }


def test_an_assignment_without_a_map_leaves_no_owners() -> None:
    assignor = RoutingAssignor("http://me:6066", "riskmon.positions")
    assignor.owners = {0: "http://stale:6066"}
    empty = ConsumerProtocolMemberMetadata(0, [], b"")
    assignments = assignor.assign(Cluster({}), {"only": empty})
    assignor.on_assignment(assignments["only"])
    assert assignor.owners == {}
