"""The reconciliation sweep (`Engine.reconcile`): on books built by real streams it finds
nothing; running totals corrupted on purpose are found, counted once, repaired, and the
engine then goes on as one that was never corrupted."""

from __future__ import annotations

import json
import math

import pytest

from risk import Engine, parse_event
from tests.streamgen import apply_lines, generate_stream, instrument_of

SEEDS = [1, 7, 19, 42]
WHOLE = 10**9  # a budget no test book reaches: the whole book in one call


def replayed(seed: int, events: int = 600) -> tuple[Engine, list[str], list[str]]:
    """An engine after the first half of a stream, and the stream's two halves."""
    lines, definitions = generate_stream(seed, events)
    engine = Engine([instrument_of(item) for item in definitions])
    half = len(lines) // 2
    return apply_lines(engine, lines[:half]), lines[:half], lines[half:]


def held_accounts(engine: Engine) -> list[int]:
    return [a for a in range(len(engine.margin)) if engine.margin.positions[a] > 0]


@pytest.mark.parametrize("seed", SEEDS)
def test_books_built_by_streams_have_no_drift(seed: int) -> None:
    engine, _, rest = replayed(seed)
    for step, line in enumerate(rest):
        apply_lines(engine, [line])
        if step % 25 == 0:  # small slices while the stream goes on
            found = engine.reconcile(float(step), budget=7)
            assert found.repaired == (), found.repaired
    assert engine.reconcile(0.0, WHOLE).repaired == ()


@pytest.mark.parametrize("seed", SEEDS)
def test_corrupted_totals_are_found_once_repaired_and_the_engine_goes_on_as_before(
    seed: int,
) -> None:
    engine, _, rest = replayed(seed)
    twin, _, _ = replayed(seed)
    held = held_accounts(engine)
    assert len(held) >= 4
    chosen = held[:: max(1, len(held) // 4)][:4]
    for number, account in enumerate(chosen):
        if number % 2:
            engine.margin.maintenance[account] *= 1.0 + 1e-6
        else:
            engine.margin.equity[account] += 1e-6 * (1.0 + abs(engine.margin.equity[account]))
    empty = next((a for a in range(len(engine.margin)) if engine.margin.positions[a] == 0), None)
    if empty is not None and engine.margin.account[empty] >= 0:
        engine.margin.equity[empty] = engine.margin.wallet[empty] + 1.0
        chosen.append(empty)
    found = engine.reconcile(0.0, WHOLE)
    names = sorted(engine.margin_account_id(account) for account in chosen)
    assert sorted(drift.margin_account for drift in found.repaired) == names
    assert found.completed
    for drift in found.repaired:
        assert drift.scale > 0.0
        assert max(abs(drift.equity), abs(drift.maintenance)) > 1e-9 * drift.scale
    assert engine.reconcile(1.0, WHOLE).repaired == ()  # repaired: nothing left
    for account in range(len(engine.margin)):
        mine, theirs = engine.current_totals(), twin.current_totals()
        for side in (0, 1):
            assert math.isclose(mine[side][account], theirs[side][account], rel_tol=1e-12,
                                abs_tol=1e-9), account  # fmt: skip
    records, twin_records = [], []
    for line in rest:
        records.append(apply_lines_records(engine, line))
        twin_records.append(apply_lines_records(twin, line))
    assert records == twin_records


def apply_lines_records(engine: Engine, line: str) -> list[str]:
    """The records one line makes the engine publish (its levels as it decides them)."""
    try:
        value = json.loads(line)
    except ValueError:
        return []
    outcome = engine.apply(parse_event(value))
    return [f"{t.margin_account} {t.from_level} {t.to_level}" for t in outcome.transitions]


def test_drift_within_the_tolerance_is_left_alone() -> None:
    engine, _, _ = replayed(SEEDS[0])
    account = held_accounts(engine)[0]
    before = engine.margin.equity[account]
    engine.margin.equity[account] = before * (1.0 + 1e-13)
    assert engine.reconcile(0.0, WHOLE).repaired == ()
    assert engine.margin.equity[account] == before * (1.0 + 1e-13)


@pytest.mark.parametrize("budget", [1, 3, 50])
def test_a_pass_in_slices_checks_every_account_once(budget: int) -> None:
    engine, _, _ = replayed(SEEDS[1])
    tracked = sum(1 for a in range(len(engine.margin)) if engine.margin.account[a] >= 0)
    checked, calls = 0, 0
    while True:
        found = engine.reconcile(float(calls), budget)
        assert found.accounts <= budget  # an account's positions are one slice's
        assert found.accounts >= 1 or found.completed
        checked += found.accounts
        calls += 1
        if found.completed:
            break
    assert checked == tracked
    assert engine.reconcile(0.0, WHOLE).accounts == tracked  # the next pass starts over


def test_the_age_is_the_start_of_the_last_completed_pass() -> None:
    engine, _, _ = replayed(SEEDS[2])
    assert engine.reconciliation_age(5.0) == 0.0  # no sweep yet
    engine.reconcile(10.0, 1)
    assert engine.reconciliation_age(12.0) == 2.0  # the first pass is under way since 10
    now = 10.0
    while not engine.reconcile(now, 2).completed:
        now += 1.0
    assert engine.reconciliation_age(now + 3.0) == now + 3.0 - 10.0
    while not engine.reconcile(now, 2).completed:
        now += 1.0
    assert engine.reconciliation_age(now) < now - 10.0  # the second pass began later
