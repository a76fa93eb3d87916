"""A validator that is behind neither authors (its block would sit on a
stale parent: a fork nobody builds on) nor blames its peers for gossip that
only looks like spam against its stale state."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from consensus.slots import slot_at
from node.service import Node
from runtime.crypto import dev_keypair
from tests.nodeproc import in_process_dev_node


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    with in_process_dev_node(tmp_path) as running:
        yield running


def _slot(node: Node) -> int:
    return max(slot_at(time.time(), node.chain.spec.params.slot_seconds), node.chain.best.slot + 1)


def test_no_authoring_while_syncing(node: Node) -> None:
    node.sync.syncing = True
    assert node.author_slot(_slot(node)) is None and node.chain.best.number == 0
    node.sync.syncing = False
    assert node.author_slot(_slot(node)) is not None and node.chain.best.number == 1


def test_after_a_restart_a_stale_validator_waits_for_its_peers_heads(node: Node) -> None:
    node._unheard = lambda: node.sync.rounds == 0  # type: ignore[method-assign]  # as with a network
    assert node.sync.rounds == 0  # the genesis block is ages old and no peer answered yet
    assert node.author_slot(_slot(node)) is None and node.behind()
    node.sync.rounds = 1  # bootnodes dialed, peers asked, nobody ahead: the net stalled, author
    assert node.author_slot(_slot(node)) is not None and not node.behind()


def test_a_node_without_a_network_authors_at_once(node: Node) -> None:
    assert node.network is None and node.author_slot(_slot(node)) is not None


def test_transaction_gossip_waits_while_syncing(node: Node) -> None:
    from node.gossip import Gossiped
    from runtime.types import Call, Extrinsic

    call = Call("balances", "transfer", {"to": dev_keypair("//bob").public, "amount": 1})
    raw = Extrinsic.sign(dev_keypair("//alice"), node.chain.spec.chain_id, 0, call).encode()
    node.sync.syncing = True
    assert node._gossiped_extrinsics("peer", [raw]) is Gossiped.DROP and len(node.pool) == 0
    node.sync.syncing = False
    node.behind = lambda: False  # type: ignore[method-assign]
    assert node._gossiped_extrinsics("peer", [raw]) is Gossiped.RELAY and len(node.pool) == 1
