"""A transaction that makes the runtime raise (a bug, see runtime.faults):
the authoring node leaves it out of its block, drops it from the pool, logs
its hash and counts it; a block that carries one is refused on import."""

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consensus.slots import slot_at
from genesis.spec import dev_spec
from node.chain import BadBlock
from node.service import Node, NodeConfig
from runtime.constants import UNIT
from runtime.crypto import dev_keypair
from runtime.pallets import balances
from runtime.types import Call, Extrinsic, extrinsic_hash

ALICE, BOB, CHARLIE = dev_keypair("alice"), dev_keypair("bob"), dev_keypair("charlie")


def _node(path: Path) -> Node:
    config = NodeConfig(
        spec=dev_spec(), base_path=path, dev=True, network=False, prometheus_port=None, validator_key=ALICE
    )
    return Node(config)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    node = _node(tmp_path / "a")
    try:
        yield node
    finally:
        node.store.close()


def _buggy_transfers_to_charlie(monkeypatch: pytest.MonkeyPatch) -> None:
    real = balances.transfer_free

    def transfer_free(ctx: Any, src: bytes, dst: bytes, value: int, keep_alive: bool = False) -> None:
        real(ctx, src, dst, value, keep_alive)
        if dst == CHARLIE.public:
            raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(balances, "transfer_free", transfer_free)


def _transfer(node: Node, key: Any, to: bytes) -> bytes:
    nonce = node.pool.next_nonce(node.chain.state, key.public)
    call = Call("balances", "transfer", {"to": to, "amount": UNIT})
    return Extrinsic.sign(key, node.chain.spec.chain_id, nonce, call).encode()


def _slot(node: Node) -> int:
    return max(slot_at(time.time(), node.chain.spec.params.slot_seconds), node.chain.best.slot + 1)


def test_the_author_drops_logs_and_counts_it(
    node: Node, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _buggy_transfers_to_charlie(monkeypatch)
    bad = _transfer(node, BOB, CHARLIE.public)
    good = _transfer(node, ALICE, BOB.public)
    node.submit_extrinsic(bad, local=True)
    node.submit_extrinsic(good, local=True)
    with caplog.at_level(logging.ERROR, logger="vcoin.node"):
        imported = node.author_slot(_slot(node))
    assert imported is not None and imported.block.extrinsics == (good,)
    assert extrinsic_hash(bad) not in node.pool.by_hash and len(node.pool) == 0
    assert f"runtime bug in extrinsic {extrinsic_hash(bad).hex()}: ZeroDivisionError" in caplog.text
    assert node.metrics.registry.get_sample_value("vcoin_runtime_bugs_total") == 1


def test_a_block_carrying_it_is_refused_on_import(
    node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = _node(tmp_path / "b")  # authors before the bug exists
    try:
        bad = _transfer(other, BOB, CHARLIE.public)
        block = other.chain.author_block(ALICE, _slot(other), [bad])[0].block
    finally:
        other.store.close()
    assert block.extrinsics == (bad,)
    _buggy_transfers_to_charlie(monkeypatch)
    best = node.chain.best
    with pytest.raises(
        BadBlock, match=f"extrinsic 0 \\({extrinsic_hash(bad).hex()}\\) made the runtime fail"
    ):
        node.chain.import_block(block)
    assert node.chain.best == best
