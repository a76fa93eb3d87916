"""Issue 11, findings 2 and 3, at the node's gossip handlers: junk votes about
blocks nobody has are refused before they are parked, their sender is
blamed, the parked set stays small, and no message carrying an unverified
vote is ever relayed; far-future transactions cost their sender, not a
signature check."""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consensus.finality import Checkpoint, Vote
from consensus.slots import slot_at
from genesis.spec import dev_spec
from node.gossip import Gossiped
from node.service import Node, NodeConfig
from runtime.codec import encode
from runtime.crypto import Keypair, dev_keypair

ALICE, BOB = dev_keypair("alice"), dev_keypair("bob")  # alice is the dev chain's one validator


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    config = NodeConfig(spec=dev_spec(), base_path=tmp_path, dev=True, network=False, prometheus_port=None)
    node = Node(config)
    # The dev chain's genesis is ages old, so the node would think itself
    # behind and judge nothing as spam; these tests judge a current node.
    node.behind = lambda: False  # type: ignore[method-assign]
    try:
        yield node
    finally:
        node.store.close()


def _block(node: Node) -> Checkpoint:
    slot = max(slot_at(time.time(), node.chain.spec.params.slot_seconds), node.chain.best.slot + 1)
    imported = node.chain.author_block(ALICE, slot, [])[0]
    return Checkpoint(imported.block.header.number, imported.block.hash)


def _wire(*votes: Vote) -> list[bytes]:
    return [encode(v.to_wire()) for v in votes]


def _junk(key: Keypair, chain_id: bytes, signed: bool = True) -> Vote:
    source, target = Checkpoint(5, os.urandom(32)), Checkpoint(6, os.urandom(32))
    if signed:
        return Vote.sign(key, chain_id, source, target)
    return Vote(source, target, key.public, os.urandom(64))


def test_forged_and_stranger_votes_about_unknown_blocks_are_blamed_not_relayed(node: Node) -> None:
    chain_id = node.chain.spec.chain_id
    forged = _junk(ALICE, chain_id, signed=False)  # a validator's name, a made-up signature
    assert node._gossiped_votes("peer", _wire(forged)) is Gossiped.BAD
    stranger = _junk(Keypair(os.urandom(32)), chain_id)
    assert node._gossiped_votes("peer", _wire(stranger)) is Gossiped.SPAM
    assert not node.finality.book.pending


def test_a_message_mixing_a_good_vote_with_junk_is_not_relayed(node: Node) -> None:
    genesis = Checkpoint(0, node.chain.genesis.hash)
    good = Vote.sign(ALICE, node.chain.spec.chain_id, genesis, _block(node))
    junk = _junk(Keypair(os.urandom(32)), node.chain.spec.chain_id)
    assert node._gossiped_votes("peer", _wire(good, junk)) is not Gossiped.RELAY
    assert node._gossiped_votes("peer", _wire(good)) is Gossiped.DROP  # counted already: nothing new


def test_a_validator_flooding_votes_about_unknown_blocks_parks_only_a_few(node: Node) -> None:
    from consensus.parked import PER_VOTER

    chain_id = node.chain.spec.chain_id
    for _ in range(4):
        node._gossiped_votes("peer", _wire(*(_junk(ALICE, chain_id) for _ in range(128))))
    assert len(node.finality.book.pending) <= PER_VOTER
    _block(node)
    started = time.perf_counter()
    node.finality.after_import()
    assert time.perf_counter() - started < 0.05


messages = st.lists(
    st.lists(st.sampled_from(["good", "forged", "stranger", "unknown", "far"]), min_size=1, max_size=6),
    min_size=1,
    max_size=8,
)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages)
def test_no_unverified_vote_is_ever_relayed(node: Node, flood: list[list[str]]) -> None:
    chain_id = node.chain.spec.chain_id
    genesis = Checkpoint(0, node.chain.genesis.hash)
    validators = set(node.chain.validators())
    for kinds in flood:
        votes = []
        for kind in kinds:
            if kind == "good":
                votes.append(Vote.sign(ALICE, chain_id, genesis, _block(node)))
            elif kind == "forged":
                votes.append(_junk(ALICE, chain_id, signed=False))
            elif kind == "stranger":
                votes.append(_junk(BOB, chain_id))
            elif kind == "unknown":
                votes.append(_junk(ALICE, chain_id))
            else:
                far = Checkpoint(node.chain.best.number + 10**6, os.urandom(32))
                votes.append(Vote.sign(ALICE, chain_id, genesis, far))
        verdict = node._gossiped_votes("peer", _wire(*votes))
        if verdict is Gossiped.RELAY:
            assert all(v.voter in validators and v.verify(chain_id) for v in votes)


def test_far_future_transaction_gossip_costs_its_sender_and_no_signature_check(
    node: Node, signature_checks: list[bytes]
) -> None:
    from runtime.types import Call, Extrinsic

    checks = signature_checks
    chain_id = node.chain.spec.chain_id
    call = Call("balances", "transfer", {"to": ALICE.public, "amount": 1})
    far = [Extrinsic.sign(BOB, chain_id, 1_000 + i, call).encode() for i in range(64)]
    del node.behind  # the real judgment: genesis is ages old, so the spam may be our own lag
    assert node.behind()
    assert node._gossiped_extrinsics("peer", far[:1]) is Gossiped.DROP
    _block(node)  # now our view is current
    assert not node.behind()
    assert node._gossiped_extrinsics("peer", far) is Gossiped.SPAM
    assert not checks and len(node.pool) == 0
    good = Extrinsic.sign(BOB, chain_id, 0, call).encode()
    assert node._gossiped_extrinsics("peer", [good, far[1]]) is not Gossiped.RELAY  # junk never travels
    assert len(node.pool) == 1


def test_a_vote_that_came_before_its_block_counts_once_the_block_is_imported(node: Node) -> None:
    chain = node.chain
    genesis = Checkpoint(0, chain.genesis.hash)
    slot = max(slot_at(time.time(), chain.spec.params.slot_seconds), chain.best.slot + 1)
    early = chain.build_sealed(ALICE, chain.best.hash, slot, [])  # not imported yet
    vote = Vote.sign(ALICE, chain.spec.chain_id, genesis, Checkpoint(1, early.hash))
    assert node._gossiped_votes("peer", _wire(vote)) is Gossiped.RELAY  # verified, parked, passed on
    assert node.finality.book.pending == [vote]
    chain.import_block(early)
    outcome = node.finality.after_import()
    assert outcome.justified == [Checkpoint(1, early.hash)] and not node.finality.book.pending
