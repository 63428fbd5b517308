"""Who owns which partition, and where its HTTP API answers: read from the group itself.

Each worker's group consumer carries its HTTP URL in its client id (`member_client_id`), and
the group coordinator knows every member's assignment. `Directory` asks it (DescribeGroups)
after every rebalance and every few seconds, so every worker knows the owner of every account
without another topic. A rebalance in progress answers with the members' last assignments
or none; the map is then kept until the group is stable again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._group import ConsumerGroupDescription

from streams.kafka.librdkafka import options
from streams.settings import Settings

log = logging.getLogger("riskmon.worker")

PREFIX: Final = "riskmon-member"
REFRESH_SECONDS: Final = 5.0
SETTLE_SECONDS: Final = 0.2  # a rebalance's last member syncs a moment after the first


def member_client_id(settings: Settings) -> str:
    """The group consumer's client id: the worker's id and its HTTP URL."""
    return f"{PREFIX} {settings.worker_id} {settings.web_url}"


def member_url(client_id: str) -> str | None:
    """The URL a `member_client_id` carries, or None for another kind of client."""
    parts = client_id.split(" ")
    return parts[2] if len(parts) == 3 and parts[0] == PREFIX else None


def owners_of(description: ConsumerGroupDescription, topic: str) -> dict[int, str]:
    """Partition of `topic` -> owner URL, from a stable group's description."""
    owners: dict[int, str] = {}
    for member in description.members:
        url = member_url(member.client_id)
        if url is None or member.assignment is None:
            continue
        for tp in member.assignment.topic_partitions:
            if tp.topic == topic:
                owners[tp.partition] = url
    return owners


class Directory:
    """The latest partition -> owner URL map of the worker's group."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic  # the account topic whose partitions are the tasks
        self.owners: dict[int, str] = {}
        self.admin: AdminClient | None = None
        self.changed = asyncio.Event()

    def rebalanced(self) -> None:
        """Called from the rebalance callbacks: ask again soon."""
        self.changed.set()

    async def run(self) -> None:
        """Refresh after each rebalance and every REFRESH_SECONDS, until cancelled."""
        self.admin = AdminClient(options(self.settings))
        while True:
            try:
                await asyncio.wait_for(self.changed.wait(), REFRESH_SECONDS)
                await asyncio.sleep(SETTLE_SECONDS)
            except TimeoutError:
                pass
            self.changed.clear()
            await self.refresh()

    async def refresh(self) -> bool:
        """Ask the coordinator once; True when the group was stable and the map was replaced."""
        assert self.admin is not None
        group = self.settings.group_id
        try:
            future = self.admin.describe_consumer_groups([group], request_timeout=10)[group]
            description = await asyncio.wrap_future(future)
        except KafkaException as error:
            log.warning("describing consumer group %s: %s", group, error)
            self.admin = AdminClient(options(self.settings))  # fresh metadata (EndWatch)
            return False
        if description.state != ConsumerGroupState.STABLE:
            self.changed.set()  # look again until it settles
            return False
        self.owners = owners_of(description, self.topic)
        return True
