"""Build the genesis state from a configuration (the `genesis` package turns
chain specs into this configuration): each pallet's genesis hook, in the
manifest's order."""

from runtime.codec import ZERO_HASH, merkle_root
from runtime.context import Ctx
from runtime.genesis_config import GenesisConfig as GenesisConfig
from runtime.manifest import PALLETS
from runtime.state import State
from runtime.types import Header


def build_genesis(state: State, config: GenesisConfig) -> Header:
    """Write the genesis state into `state` and return the genesis header."""
    ctx = Ctx(state, 0, 0, ZERO_HASH, ZERO_HASH, config.chain_id, config.params)
    for pallet in PALLETS:
        if pallet.genesis is not None:
            pallet.genesis(ctx, config)
    root = state.commit_block()
    return Header(ZERO_HASH, 0, root, merkle_root([]), 0, ZERO_HASH)
