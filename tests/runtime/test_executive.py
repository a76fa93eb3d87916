from dataclasses import replace

import pytest

from runtime.constants import MAX_EXTRINSIC_BYTES, UNIT
from runtime.crypto import Keypair
from runtime.errors import InvalidBlock, InvalidTransaction
from runtime.executive import apply_block, check_transaction
from runtime.genesis_state import build_genesis
from runtime.state import State
from runtime.types import Block, Call, Extrinsic, extrinsics_root
from tests.chain import ALICE, BOB, TestChain, failed


def _rejected(chain: TestChain, raw: bytes) -> str:
    before = chain.state.root
    built = chain.produce([raw])
    assert built.block.extrinsics == ()
    assert len(built.rejected) == 1
    assert chain.account(ALICE.public).nonce == chain.nonce(ALICE.public)
    assert before != chain.state.root  # the block itself still moves the chain
    return built.rejected[0][1]


def test_invalid_transactions_are_rejected_with_a_reason_and_change_nothing() -> None:
    chain = TestChain()
    alice = chain.account(ALICE.public)
    good = Extrinsic.sign(
        ALICE,
        chain.chain_id,
        alice.nonce,
        Call("balances", "transfer", {"to": BOB.public, "amount": 1}),
    )
    forged = replace(good, signature=bytes(64)).encode()
    assert _rejected(chain, forged) == "BadSignature"
    other_chain = Extrinsic.sign(ALICE, b"\x09" * 32, alice.nonce, good.call).encode()
    assert _rejected(chain, other_chain) == "BadSignature"
    assert _rejected(chain, replace(good, nonce=alice.nonce + 5).encode()).startswith("Future")
    assert _rejected(chain, b"\x93\x01\x02").startswith("Malformed")
    assert _rejected(chain, b"\x00" * (MAX_EXTRINSIC_BYTES + 1)).startswith("ExtrinsicTooLarge")
    poor = Keypair.generate()
    broke = Extrinsic.sign(poor, chain.chain_id, 0, good.call).encode()
    assert _rejected(chain, broke).startswith("CannotPayFee")
    assert chain.account(ALICE.public) == alice


def test_reused_nonce_is_stale() -> None:
    chain = TestChain()
    raw = chain.sign(ALICE, "balances", "transfer", to=BOB.public, amount=1)
    chain.produce([raw])
    built = chain.produce([raw])
    assert built.rejected[0][1].startswith("Stale")


def test_check_transaction_admits_future_nonces_only_when_asked() -> None:
    chain = TestChain()
    raw = chain.sign(
        ALICE, "balances", "transfer", nonce=chain.nonce(ALICE.public) + 1, to=BOB.public, amount=1
    )
    with pytest.raises(InvalidTransaction):
        check_transaction(chain.state, raw)
    assert (
        check_transaction(chain.state, raw, allow_future=True).extrinsic.nonce
        == chain.nonce(ALICE.public) + 1
    )


def test_several_transactions_of_one_sender_in_one_block() -> None:
    chain = TestChain()
    n = chain.nonce(ALICE.public)
    raws = [
        chain.sign(ALICE, "balances", "transfer", nonce=n + i, to=BOB.public, amount=UNIT) for i in range(5)
    ]
    built = chain.produce(raws)
    assert len(built.block.extrinsics) == 5 and not built.rejected
    assert chain.nonce(ALICE.public) == n + 5


def test_apply_block_skips_invalid_extrinsics_the_same_way_on_every_node() -> None:
    chain = TestChain(replicate=False)
    good = chain.sign(ALICE, "balances", "transfer", to=BOB.public, amount=1)
    junk = [b"", b"\xc1", good, good]  # the second copy is stale by then
    fresh = State.in_memory()
    build_genesis(fresh, chain.spec.genesis_config())
    header = replace(
        chain.genesis,
        number=1,
        extrinsics_root=extrinsics_root(junk),
        parent_hash=chain.genesis.hash,
    )
    result = apply_block(fresh, Block(header, tuple(junk)))
    invalid = [e for e in result.events if e.name == "ExtrinsicInvalid"]
    assert [e.extrinsic_index for e in invalid] == [0, 1, 3]
    other = State.in_memory()
    build_genesis(other, chain.spec.genesis_config())
    assert apply_block(other, Block(header, tuple(junk))).state_root == result.state_root


def test_apply_block_refuses_wrong_number_and_extrinsics_root() -> None:
    chain = TestChain(replicate=False)
    block = chain.produce().block
    state = State.in_memory()
    build_genesis(state, chain.spec.genesis_config())
    root = state.root
    with pytest.raises(InvalidBlock):
        apply_block(state, Block(replace(block.header, number=2), ()))
    with pytest.raises(InvalidBlock):
        apply_block(state, Block(block.header, (b"extra",)))
    assert state.root == root
    assert apply_block(state, block).state_root == block.header.state_root


def test_failed_call_rolls_back_its_events_and_writes() -> None:
    chain = TestChain()
    events = chain.call(ALICE, "staking", "unbond", amount=10**18)
    assert failed(events) == "staking.InsufficientBond"
    assert [e.name for e in events] == ["ExtrinsicFailed"]
