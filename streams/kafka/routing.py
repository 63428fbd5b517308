"""Who owns which partition, and where its HTTP API answers: carried by the group protocol.

`RoutingAssignor` is the range assignor (task p gets partition p of both account topics)
that also distributes a map partition -> owner URL: each member advertises its URL in its
subscription metadata, and the leader hands the whole map to every member with its
assignment. Every worker therefore knows the owner of every account without another topic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)


class RoutingAssignor(RangePartitionAssignor):  # type: ignore[misc]
    name = "riskmon-range"
    version = 0

    def __init__(self, url: str, topic: str) -> None:
        self.url = url
        self.topic = topic  # the account topic whose partitions are the tasks
        self.owners: dict[int, str] = {}

    def metadata(self, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        return ConsumerProtocolMemberMetadata(self.version, list(topics), self.url.encode())

    def assign(
        self,
        cluster: ClusterMetadata,
        members: Mapping[str, ConsumerProtocolMemberMetadata],
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        ranged = RangePartitionAssignor.assign(cluster, members)
        owners = {
            partition: members[member].user_data.decode()
            for member, assignment in ranged.items()
            for topic, partitions in assignment.assignment
            if topic == self.topic
            for partition in partitions
        }
        user_data = json.dumps(owners, sort_keys=True).encode()
        return {
            member: ConsumerProtocolMemberAssignment(self.version, assignment.assignment, user_data)
            for member, assignment in ranged.items()
        }

    def on_assignment(self, assignment: ConsumerProtocolMemberAssignment) -> None:
        owners = json.loads(assignment.user_data or b"{}")
        self.owners = {int(partition): url for partition, url in owners.items()}
