import json
from pathlib import Path

import pytest

from genesis import spec as specs
from genesis.spec import ChainSpec, dev_spec, load_spec, local_spec
from runtime.constants import CAP, REWARD_POOL
from runtime.crypto import dev_keypair
from runtime.genesis_state import build_genesis
from runtime.pallets import balances, staking
from runtime.state import State


def test_dev_spec_has_alice_as_sole_validator_and_funds_dev_accounts() -> None:
    state = State.in_memory()
    build_genesis(state, dev_spec().genesis_config())
    assert staking.Active.get(state) == (dev_keypair("alice").public,)
    for name in ("alice", "bob", "charlie", "dave", "eve", "ferdie"):
        assert balances.get(state, dev_keypair(name).public).total > 0
    assert balances.Minted.get(state) == CAP - REWARD_POOL


def test_local_spec_has_four_validators() -> None:
    state = State.in_memory()
    build_genesis(state, local_spec().genesis_config())
    assert len(staking.Active.get(state)) == 4


def test_json_roundtrip_keeps_the_chain_id(tmp_path: Path) -> None:
    spec = local_spec()
    path = tmp_path / "spec.json"
    path.write_text(spec.to_json())
    loaded = load_spec(str(path))
    assert loaded == spec and loaded.chain_id == spec.chain_id
    assert dev_spec().chain_id != spec.chain_id


def test_bad_specs_are_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no built-in chain"):
        load_spec(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not JSON"):
        load_spec(str(tmp_path / "bad.json"))
    wire = json.loads(dev_spec().to_json())
    wire["params"]["burn_rate_ppm"] = 900_000
    with pytest.raises(ValueError, match="burn_rate_ppm"):
        ChainSpec.from_wire(wire)
    wire = json.loads(dev_spec().to_json())
    wire["team"] = "vc1nope"
    with pytest.raises(ValueError):
        ChainSpec.from_wire(wire)


def test_genesis_refuses_endowments_beyond_the_ecosystem_allocation() -> None:
    from dataclasses import replace

    spec = dev_spec()
    greedy = replace(spec, endowments=((dev_keypair("bob").public, 300_000_000 * 10**9),))
    with pytest.raises(ValueError, match="ecosystem"):
        build_genesis(State.in_memory(), greedy.genesis_config())


def test_every_built_in_spec_unbonds_slower_than_it_votes() -> None:
    """Issue 11, finding 7: with unbonding no longer than voting, stake that
    voted could be withdrawn, moved and bonded again before the tally."""
    for spec in [*(make() for make in specs.BUILTIN.values()), specs.testnet_spec(4)]:
        assert spec.params.unbonding_period > spec.params.voting_period, spec.id


def test_a_spec_that_unbonds_within_a_voting_period_is_refused(tmp_path: Path) -> None:
    wire = json.loads(dev_spec().to_json())
    wire["params"]["unbonding_period"] = wire["params"]["voting_period"]
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(wire))
    with pytest.raises(ValueError, match="unbonding_period must be longer than voting_period"):
        load_spec(str(path))
    with pytest.raises(ValueError, match="unbonding_period"):
        specs.testnet_spec(2, voting_period=60)
