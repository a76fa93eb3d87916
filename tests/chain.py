"""A test chain: genesis from a spec, blocks built from signed calls, and a
replica that re-imports every block to prove the roots agree."""

from dataclasses import replace
from typing import Any

from genesis.spec import ChainSpec, dev_spec
from runtime.codec import ZERO_HASH
from runtime.context import Ctx
from runtime.crypto import Keypair, dev_keypair
from runtime.executive import BuiltBlock, apply_block, build_block
from runtime.genesis_state import build_genesis
from runtime.pallets import balances
from runtime.state import State
from runtime.types import Block, Call, Event, Extrinsic

ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE = (
    dev_keypair(n) for n in ("alice", "bob", "charlie", "dave", "eve", "ferdie")
)


class TestChain:
    __test__ = False

    def __init__(self, spec: ChainSpec | None = None, replicate: bool = True, **params: int) -> None:
        spec = spec or dev_spec()
        if params:
            spec = replace(spec, params=replace(spec.params, **params))
        self.spec = spec
        self.state = State.in_memory()
        self.genesis = build_genesis(self.state, spec.genesis_config())
        self.replica: State | None = None
        if replicate:
            self.replica = State.in_memory()
            build_genesis(self.replica, spec.genesis_config())
        self.head = self.genesis
        self.blocks: list[Block] = []
        self.events: list[Event] = []
        self.author = ALICE.public

    @property
    def chain_id(self) -> bytes:
        return self.spec.chain_id

    @property
    def params(self) -> Any:
        from runtime.pallets.system import params

        return params(self.state)

    def nonce(self, who: bytes) -> int:
        return balances.get(self.state, who).nonce

    def sign(
        self,
        key: Keypair,
        pallet: str,
        name: str,
        tip: int = 0,
        nonce: int | None = None,
        **args: Any,
    ) -> bytes:
        n = self.nonce(key.public) if nonce is None else nonce
        return Extrinsic.sign(key, self.chain_id, n, Call(pallet, name, args), tip).encode()

    def produce(self, extrinsics: list[bytes] = ()) -> BuiltBlock:  # type: ignore[assignment]
        built = build_block(self.state, self.head.hash, self.head.slot + 1, self.author, list(extrinsics))
        self.head = built.block.header
        self.blocks.append(built.block)
        self.events = list(built.events)
        if self.replica is not None:
            result = apply_block(self.replica, built.block)
            assert result.state_root == built.block.header.state_root, "replica diverged"
        return built

    def call(self, key: Keypair, pallet: str, name: str, tip: int = 0, **args: Any) -> list[Event]:
        """Submit one call in its own block; return that extrinsic's events."""
        built = self.produce([self.sign(key, pallet, name, tip=tip, **args)])
        assert not built.rejected and not built.bugs, (built.rejected, built.bugs)
        return [e for e in built.events if e.extrinsic_index == 0]

    def advance_to(self, number: int) -> None:
        while self.head.number < number:
            self.produce()

    def ctx(self) -> Ctx:
        """A context for the next block, to call pallet functions directly
        (outside extrinsics); use it with `replicate=False`."""
        number = self.head.number + 1
        return Ctx(self.state, number, number, ZERO_HASH, ZERO_HASH, self.chain_id, self.params)

    def account(self, who: bytes) -> balances.Account:
        return balances.get(self.state, who)


def failed(events: list[Event]) -> str | None:
    """The `pallet.Error` of a failed extrinsic, None if it succeeded."""
    for event in events:
        if event.name == "ExtrinsicFailed":
            return str(event.data["error"])
    return None


def names(events: list[Event]) -> list[str]:
    return [f"{e.pallet}.{e.name}" for e in events]


__all__ = [
    "ALICE",
    "BOB",
    "CHARLIE",
    "DAVE",
    "EVE",
    "FERDIE",
    "TestChain",
    "failed",
    "names",
    "ZERO_HASH",
]
