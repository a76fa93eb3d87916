"""Build the genesis state from a configuration (the `genesis` package turns
chain specs into this configuration)."""

from dataclasses import dataclass

from runtime.codec import ZERO_HASH, merkle_root
from runtime.constants import ECOSYSTEM_ALLOCATION, RESERVE_ALLOCATION, TEAM_ALLOCATION
from runtime.context import Ctx
from runtime.pallets import balances, registry, staking, system, treasury, vesting
from runtime.params import Params
from runtime.state import State
from runtime.types import Header


@dataclass(frozen=True)
class GenesisConfig:
    chain_id: bytes
    params: Params
    team: bytes
    # Dev and test funds come out of the ecosystem allocation, never on top.
    endowments: tuple[tuple[bytes, int], ...] = ()
    validators: tuple[tuple[bytes, int], ...] = ()  # (account, bond)
    models: tuple[tuple[bytes, str, str, int, int], ...] = ()  # (hash, name, kind, params, memory MB)


def build_genesis(state: State, config: GenesisConfig) -> Header:
    """Write the genesis state into `state` and return the genesis header."""
    endowed = sum(value for _, value in config.endowments)
    if endowed > ECOSYSTEM_ALLOCATION:
        raise ValueError("endowments exceed the ecosystem allocation")
    if len({who for who, _ in config.endowments}) != len(config.endowments):
        raise ValueError("an account is endowed twice")
    ctx = Ctx(state, 0, 0, ZERO_HASH, ZERO_HASH, config.chain_id, config.params)
    system.ParamsItem.put(state, config.params)
    system.ChainId.put(state, config.chain_id)
    balances.mint(ctx, treasury.ECOSYSTEM, ECOSYSTEM_ALLOCATION - endowed)
    balances.mint(ctx, treasury.RESERVE, RESERVE_ALLOCATION)
    for who, value in config.endowments:
        balances.mint(ctx, who, value)
    balances.mint(ctx, config.team, TEAM_ALLOCATION)
    vesting.add_schedule(
        ctx,
        config.team,
        TEAM_ALLOCATION,
        config.params.vesting_cliff,
        config.params.vesting_duration,
    )
    for who, bond in config.validators:
        staking.bond_funds(ctx, who, bond)
        staking.validate(ctx, who)
    for model_hash, name, kind, params, memory_mb in config.models:
        registry.add_model(ctx, treasury.ECOSYSTEM, model_hash, name, kind, params, memory_mb)
    staking.Active.put(state, staking.elect(ctx))
    if not staking.Active.get(state):
        raise ValueError("genesis elects no validator: check bonds against min_validator_bond")
    root = state.commit_block()
    return Header(ZERO_HASH, 0, root, merkle_root([]), 0, ZERO_HASH)
