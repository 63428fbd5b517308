"""A replay file, its expected Kafka output, and checks of the topics against it."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from streams.config import parse_config
from streams.kafka.partitioning import partitioned_replay
from streams.replay import replay_lines
from streams.settings import Settings
from tests.integration.kafka import INPUT_KINDS, Message, Stack, read_topic, records_by_event_id
from tests.streamgen import config_text, generate_stream


@dataclass
class Scenario:
    """Events on disk, the config a worker loads, and what the topics must end up holding."""

    events: Path
    config: Path
    lines: list[bytes]
    expected: dict[str, str]  # event_id -> record, as each partition's task writes it
    dead_letters: list[tuple[bytes, str]]  # (line, reason) of every line the replay rejects

    @classmethod
    def generate(
        cls, directory: Path, seed: int, size: int, partitions: int, tables: str = ""
    ) -> Scenario:
        """`tables`: more of the config file (e.g. a `[fund]` table)."""
        text, instruments = generate_stream(seed, size)
        events, config = directory / "events.jsonl", directory / "config.toml"
        events.write_text("".join(line + "\n" for line in text), encoding="utf-8")
        config.write_text(config_text(instruments) + tables, encoding="utf-8")
        engine_config = parse_config(config.read_text(), str(config))
        lines = [line.encode() for line in text]
        parts = partitioned_replay(lines, Settings(partitions=partitions), engine_config)
        expected = {
            json.loads(record)["event_id"]: record
            for records in parts.values()
            for record in records
        }
        report = replay_lines(lines, engine_config.engine(), lambda _: None)
        dead = [(lines[number - 1], reason) for number, reason in report.rejects]
        return cls(events, config, lines, expected, dead)


def transitions(stack: Stack) -> list[Message]:
    return read_topic(stack, "liquidations")


def has_every_transition(stack: Stack, scenario: Scenario) -> bool:
    by_id, _ = records_by_event_id(transitions(stack))
    return by_id.keys() >= scenario.expected.keys()


def assert_transitions_match(stack: Stack, scenario: Scenario) -> list[Message]:
    """De-duplicated by event_id the topic is the replay; no id has two records; each
    margin account's records are in order on its partition."""
    messages = transitions(stack)
    by_id, conflicts = records_by_event_id(messages)
    assert conflicts == []
    assert by_id.keys() == scenario.expected.keys()
    different = [key for key, record in scenario.expected.items() if by_id[key] != record]
    assert different == []
    counts: dict[str, list[int]] = defaultdict(list)
    for message in messages:
        event_id = json.loads(message.value or b"")["event_id"]
        account, _, count = event_id.rpartition("#")
        counts[account].append(int(count))
    for account, sequence in counts.items():
        assert sequence == sorted(sequence), account
    return messages


def assert_dead_letters_match(stack: Stack, scenario: Scenario) -> None:
    """The DLQ holds every rejected line once, unchanged, with its reason and origin."""
    letters = read_topic(stack, "dlq")
    found = sorted((message.value or b"", message.headers["reason"]) for message in letters)
    assert found == sorted(scenario.dead_letters)
    inputs = {stack.topic(kind) for kind in INPUT_KINDS}
    for message in letters:
        if "source" in message.headers:  # refused by `riskmon publish`: no topic to go to
            assert message.headers["source"] == str(scenario_path(scenario))
            assert scenario.lines[int(message.headers["line"]) - 1] == message.value
        else:
            assert message.headers["topic"] in inputs
            assert int(message.headers["partition"]) >= 0
            assert int(message.headers["offset"]) >= 0


def scenario_path(scenario: Scenario) -> Path:
    return scenario.events


def dead_letter_count(stack: Stack) -> int:
    return len(read_topic(stack, "dlq"))
