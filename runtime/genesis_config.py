"""What genesis is built from (the `genesis` package turns chain specs into
it); each pallet's genesis hook reads its part."""

from dataclasses import dataclass

from runtime.params import Params


@dataclass(frozen=True)
class GenesisConfig:
    chain_id: bytes
    params: Params
    team: bytes
    # Dev and test funds come out of the ecosystem allocation, never on top.
    endowments: tuple[tuple[bytes, int], ...] = ()
    validators: tuple[tuple[bytes, int], ...] = ()  # (account, bond)
    models: tuple[tuple[bytes, str, str, int, int], ...] = ()  # (hash, name, kind, params, memory MB)
