"""Chain specs: the dev and local specs and custom ones read from JSON.

Every spec is built by `build_spec`; its chain id (signed into every
transaction) is the hash of its canonical encoding, so two specs that differ
in anything are two different chains.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.codec import hash_of
from runtime.constants import UNIT
from runtime.crypto import DEV_ACCOUNT_NAMES, dev_keypair, from_address, to_address
from runtime.genesis_state import GenesisConfig
from runtime.params import Params

SECONDS_PER_YEAR = 365 * 24 * 3600
DEV_ENDOWMENT = 1_000_000 * UNIT
# The packaged models every built-in spec registers (see `agent.models.PACKAGED`;
# a test checks these hashes against the installed files).
BUILTIN_MODELS = (
    (bytes.fromhex("7c1694d85c1566d1fb7270f6c94cdd59e6c94c0688a212a31593e98029a54a12"),
     "all-minilm-l6-v2", "embed", 22_713_216, 256),
    (bytes.fromhex("c56da39680127799f12d2f13ea58427f1102abdb7036b1eae53d03d45635c18b"),
     "smollm2-135m", "inference", 134_515_008, 1024),
)  # fmt: skip
DEV_VALIDATOR_BOND = 100_000 * UNIT


@dataclass(frozen=True)
class ChainSpec:
    name: str
    id: str
    params: Params
    team: bytes
    endowments: tuple[tuple[bytes, int], ...]
    validators: tuple[tuple[bytes, int], ...]
    bootnodes: tuple[str, ...] = field(default=())
    models: tuple[tuple[bytes, str, str, int, int], ...] = ()  # (hash, name, kind, params, memory MB)

    def to_wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.id,
            "params": self.params.to_wire(),
            "team": to_address(self.team),
            "endowments": [[to_address(who), value] for who, value in self.endowments],
            "validators": [[to_address(who), bond] for who, bond in self.validators],
            "bootnodes": list(self.bootnodes),
            "models": [[h.hex(), name, kind, params, mem] for h, name, kind, params, mem in self.models],
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "ChainSpec":
        try:
            return cls(
                name=str(wire["name"]),
                id=str(wire["id"]),
                params=Params.from_wire(wire["params"]),
                team=from_address(wire["team"]),
                endowments=tuple((from_address(a), int(v)) for a, v in wire["endowments"]),
                validators=tuple((from_address(a), int(v)) for a, v in wire["validators"]),
                bootnodes=tuple(str(b) for b in wire.get("bootnodes", [])),
                models=tuple(
                    (bytes.fromhex(h), str(name), str(kind), int(params), int(mem))
                    for h, name, kind, params, mem in wire.get("models", [])
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid chain spec: {exc}") from exc

    @property
    def chain_id(self) -> bytes:
        # Bootnodes are where to find the chain, not what it is.
        wire = self.to_wire()
        del wire["bootnodes"]
        return hash_of(wire)

    def genesis_config(self) -> GenesisConfig:
        return GenesisConfig(
            self.chain_id, self.params, self.team, self.endowments, self.validators, self.models
        )

    def to_json(self) -> str:
        return json.dumps(self.to_wire(), indent=2)


def build_spec(
    name: str,
    chain: str,
    validators: list[bytes],
    endowed: list[bytes],
    team: bytes,
    slot_seconds: int,
    endowment: int = DEV_ENDOWMENT,
    bond: int = DEV_VALIDATOR_BOND,
    **params: int,
) -> ChainSpec:
    """The one constructor every built-in spec goes through."""
    params.setdefault("blocks_per_year", SECONDS_PER_YEAR // slot_seconds)
    return ChainSpec(
        name=name,
        id=chain,
        params=Params(slot_seconds=slot_seconds, **params),
        team=team,
        endowments=tuple((who, endowment) for who in endowed),
        validators=tuple((who, bond) for who in validators),
        models=BUILTIN_MODELS,
    )


def _dev(name: str) -> bytes:
    return dev_keypair(name).public


DEV_ACCOUNTS = [_dev(name) for name in DEV_ACCOUNT_NAMES]


def dev_spec() -> ChainSpec:
    """One validator (//alice), short years and eras so tests cross them fast."""
    return build_spec(
        "Development", "dev", [_dev("alice")], DEV_ACCOUNTS, _dev("team"),
        slot_seconds=2, blocks_per_year=600, era_length=20, unbonding_period=15,
        voting_period=10, enactment_delay=5, min_validator_bond=1_000 * UNIT,
        min_provider_bond=100 * UNIT, proposal_deposit=10 * UNIT,
        job_commit_window=10, job_reveal_window=5, job_challenge_window=5,
    )  # fmt: skip


def local_spec() -> ChainSpec:
    """Four validators (//alice .. //dave) on loopback."""
    return build_spec(
        "Local Testnet", "local", DEV_ACCOUNTS[:4], DEV_ACCOUNTS, _dev("team"),
        slot_seconds=2, era_length=30, unbonding_period=45, voting_period=30,
        enactment_delay=10, min_validator_bond=1_000 * UNIT, min_provider_bond=100 * UNIT,
        proposal_deposit=10 * UNIT,
    )  # fmt: skip


def testnet_key_names(validators: int) -> list[str]:
    """//alice .. //ferdie first, then //validator-7, //validator-8, ..."""
    return [
        f"//{DEV_ACCOUNT_NAMES[i]}" if i < len(DEV_ACCOUNT_NAMES) else f"//validator-{i + 1}"
        for i in range(validators)
    ]


def testnet_spec(validators: int, slot_seconds: int = 2, **params: int) -> ChainSpec:
    """A local net of `validators` dev-key validators, all dev accounts funded."""
    if not 1 <= validators <= 64:
        raise ValueError("a testnet has 1 to 64 validators")
    keys = [dev_keypair(name).public for name in testnet_key_names(validators)]
    endowed = list(dict.fromkeys(DEV_ACCOUNTS + keys))
    settings = {
        "era_length": 30, "unbonding_period": 45, "voting_period": 30, "enactment_delay": 10,
        "min_validator_bond": 1_000 * UNIT, "min_provider_bond": 100 * UNIT,
        "proposal_deposit": 10 * UNIT, **params,
    }  # fmt: skip
    return build_spec(
        f"Testnet ({validators} validators)", "testnet", keys, endowed, _dev("team"), slot_seconds, **settings
    )


BUILTIN = {"dev": dev_spec, "local": local_spec}


def load_spec(name_or_path: str) -> ChainSpec:
    """A built-in spec by name, or a JSON spec file by path."""
    if name_or_path in BUILTIN:
        return BUILTIN[name_or_path]()
    path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(f"no built-in chain {name_or_path!r} and no spec file at that path")
    try:
        wire = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from exc
    return ChainSpec.from_wire(wire)
