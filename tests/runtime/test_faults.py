"""An exception the runtime does not declare (a bug) rejects the block being
imported and leaves the extrinsic out of the block being authored
(`runtime.faults`); a declared error only fails the call."""

from dataclasses import replace
from typing import Any

import pytest

from runtime.constants import UNIT
from runtime.errors import InvalidBlock, RuntimeBug
from runtime.executive import apply_block, build_block
from runtime.genesis_state import build_genesis
from runtime.pallets import balances
from runtime.state import State
from runtime.types import extrinsic_hash
from tests.chain import ALICE, BOB, CHARLIE, TestChain, failed


def _buggy_transfers(monkeypatch: pytest.MonkeyPatch, exc: BaseException | None = None) -> None:
    """`balances.transfer` raises `exc` (ZeroDivisionError) for transfers to
    CHARLIE, after it wrote something."""
    exc = exc or ZeroDivisionError("division by zero")
    real = balances.transfer_free

    def transfer_free(ctx: Any, src: bytes, dst: bytes, value: int, keep_alive: bool = False) -> None:
        real(ctx, src, dst, value, keep_alive)
        if dst == CHARLIE.public:
            raise exc

    monkeypatch.setattr(balances, "transfer_free", transfer_free)


def _fresh(chain: TestChain) -> State:
    state = State.in_memory()
    build_genesis(state, chain.spec.genesis_config())
    return state


def test_importing_a_block_whose_extrinsic_raises_rejects_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    chain = TestChain(replicate=False)
    good = chain.sign(ALICE, "balances", "transfer", to=BOB.public, amount=UNIT)
    bad = chain.sign(BOB, "balances", "transfer", to=CHARLIE.public, amount=UNIT)
    block = chain.produce([good, bad]).block  # authored by a node without the bug
    assert block.extrinsics == (good, bad)

    _buggy_transfers(monkeypatch)
    state = _fresh(chain)
    root = state.root
    with pytest.raises(RuntimeBug) as caught:
        apply_block(state, block)
    assert isinstance(caught.value, InvalidBlock)
    assert caught.value.index == 1 and caught.value.extrinsic_hash == extrinsic_hash(bad)
    message = str(caught.value)
    assert f"extrinsic 1 ({extrinsic_hash(bad).hex()})" in message and "ZeroDivisionError" in message
    assert state.root == root and state.depth == 0  # nothing of the block stays
    # the same on every node: a second importer refuses it alike
    with pytest.raises(RuntimeBug, match="extrinsic 1"):
        apply_block(_fresh(chain), block)


def test_authoring_leaves_the_extrinsic_out_and_reports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _buggy_transfers(monkeypatch)
    chain = TestChain()  # its replica imports what is built
    bob_before, charlie_before = chain.account(BOB.public), chain.account(CHARLIE.public)
    first = chain.sign(ALICE, "balances", "transfer", to=BOB.public, amount=UNIT)
    bad = chain.sign(BOB, "balances", "transfer", to=CHARLIE.public, amount=UNIT)
    after = chain.sign(
        ALICE, "balances", "transfer", to=BOB.public, amount=UNIT, nonce=chain.nonce(ALICE.public) + 1
    )
    built = chain.produce([first, bad, after])
    assert built.block.extrinsics == (first, after)
    assert not built.rejected
    ((raw, error),) = built.bugs
    assert raw == bad and error == repr(ZeroDivisionError("division by zero"))
    # nothing of it happened: no fee, no nonce, no transfer, no event
    assert chain.account(BOB.public) == replace(bob_before, free=bob_before.free + 2 * UNIT)
    assert chain.account(CHARLIE.public) == charlie_before
    assert [e.extrinsic_index for e in built.events if e.name == "ExtrinsicSuccess"] == [0, 1]
    assert failed([e for e in built.events if e.extrinsic_index == 1]) is None


def test_machine_faults_are_not_judged(monkeypatch: pytest.MonkeyPatch) -> None:
    """MemoryError depends on the machine, not the block: it propagates, in both modes."""
    chain = TestChain(replicate=False)
    bad = chain.sign(BOB, "balances", "transfer", to=CHARLIE.public, amount=UNIT)
    block = chain.produce([bad]).block
    _buggy_transfers(monkeypatch, MemoryError())
    state = _fresh(chain)
    with pytest.raises(MemoryError):
        apply_block(state, block)
    with pytest.raises(MemoryError):
        build_block(state, chain.genesis.hash, 1, ALICE.public, [bad])
    assert state.depth == 0


def test_a_declared_error_only_fails_the_call() -> None:
    chain = TestChain()
    events = chain.call(BOB, "balances", "transfer", to=CHARLIE.public, amount=-1)
    assert failed(events) == "system.BadArguments"
    events = chain.call(BOB, "balances", "transfer", to=CHARLIE.public, amount=10**17)
    assert failed(events) == "balances.InsufficientBalance"
