"""The live what-if's proposal, one worker's share and the merge of shares
(`streams.whatif_live`): parsing like a --config file, and two workers holding halves of the
accounts answering together what one worker holding all of them answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from risk import Engine
from streams.config import ConfigError, load_config
from streams.whatif_live import merge_shares, parse_proposal, scaled_rates, worker_share
from tests.streamgen import apply_lines, generate_stream, instrument_of

PROPOSAL = """
[levels]
watch = 0.4
margin_call = 0.6
liquidation = 0.9

[[instruments]]
symbol = "AAAUSDT"
kind = "linear"
settle = "USDT"
tiers = [{cap = 5000, mmr = 0.02}, {mmr = 0.08}]
"""


def proposal_for(engine: Engine, beta_change: float = 0.0) -> bytes:
    """PROPOSAL with AAAUSDT's contract size and beta as the engine has them now (the streams
    redefine instruments; a live what-if cannot change either)."""
    current = engine.instruments[engine.symbols["AAAUSDT"]]
    fields = f"contract_size = {current.contract_size}\nbeta = {current.beta + beta_change}\n"
    return (PROPOSAL + fields).encode()


def everyone(account: str) -> bool:
    del account
    return True


def engine_of(lines: list[str], definitions: list[dict[str, Any]], keep: Any) -> Engine:
    """An engine fed the stream's events, account events only where `keep(account)`."""
    return apply_lines(Engine([instrument_of(item) for item in definitions]), lines, keep)


def test_toml_and_json_proposals_are_the_same() -> None:
    import tomllib

    as_toml = parse_proposal(PROPOSAL.encode(), "text/plain")
    as_json = parse_proposal(json.dumps(tomllib.loads(PROPOSAL)).encode(), "application/json")
    assert as_toml == as_json
    assert as_toml.thresholds is not None
    assert as_toml.thresholds.margin_call == 0.6
    assert [item.symbol for item in as_toml.instruments] == ["AAAUSDT"]
    assert parse_proposal(b"[levels]\nwatch = 0.3\n", "").instruments == ()
    instruments_only = "[[instruments]]" + PROPOSAL.split("[[instruments]]")[1]
    assert parse_proposal(instruments_only.encode(), "").thresholds is None


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"[levels\n", "", "not valid TOML or JSON"),
        (b"[1, 2]", "application/json", "must be a table"),
        (b"", "", "changes nothing"),
        (b"[fund]\npaths = 10\n", "", "only [[instruments]] and [levels]"),
        (b"[levels]\nwatch = 0.9\nmargin_call = 0.8\n", "", "thresholds must satisfy"),
        (b"\xff", "", "not valid TOML or JSON"),
    ],
)
def test_a_bad_proposal_says_why(body: bytes, content_type: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parse_proposal(body, content_type)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_workers_answer_what_one_does(seed: int) -> None:
    lines, definitions = generate_stream(seed, 400)
    whole = engine_of(lines, definitions, everyone)
    proposal = parse_proposal(proposal_for(whole), "")
    alone = merge_shares([worker_share(whole, proposal)], [])
    halves = [
        engine_of(lines, definitions, lambda account, side=side: sum(account.encode()) % 2 == side)
        for side in (0, 1)
    ]
    together = merge_shares([worker_share(engine, proposal) for engine in halves], [])
    assert together == alone
    assert alone["changed_accounts"]  # the proposal moves accounts
    assert alone["transitions"]["proposed"] == len(alone["changed_accounts"])
    assert sum(alone["levels"]["base"].values()) == len(whole.tracked_accounts())
    assert alone["levels"]["base"] == whole.level_counts()


def test_a_beta_change_is_refused_live() -> None:
    lines, definitions = generate_stream(1, 200)
    engine = engine_of(lines, definitions, everyone)
    with pytest.raises(ConfigError, match="beta cannot change live"):
        worker_share(engine, parse_proposal(proposal_for(engine, 1.0), ""))


@pytest.mark.parametrize("factor", [1.0, 1.5, 0.5])
def test_scaled_rates_is_the_instrument_with_its_rates_scaled(factor: float) -> None:
    for instrument in load_config(None).instruments:
        body = json.dumps(scaled_rates(instrument, factor)).encode()
        (proposed,) = parse_proposal(body, "application/json").instruments
        assert proposed._replace(tiers=instrument.tiers) == instrument
        assert proposed.tiers.caps == instrument.tiers.caps
        assert proposed.tiers.mmrs == pytest.approx([mmr * factor for mmr in instrument.tiers.mmrs])
        assert proposed.tiers.cums == pytest.approx([cum * factor for cum in instrument.tiers.cums])
