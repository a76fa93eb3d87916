"""A node that accepted a transaction (RPC answered with its hash) and was
killed before gossiping it submits it again when it starts: its sender's
later transactions never wait on a gap the crash made."""

from pathlib import Path

import trio

from genesis.spec import dev_spec
from node.pool_journal import PoolJournal
from node.service import Node, NodeConfig
from runtime.crypto import dev_keypair
from runtime.types import Call, Extrinsic, extrinsic_hash

ALICE, BOB = dev_keypair("//alice"), dev_keypair("//bob")


def _config(base: Path) -> NodeConfig:
    return NodeConfig(spec=dev_spec(), base_path=base, dev=True, network=False, prometheus_port=None)


def _transfers(node: Node, count: int) -> list[bytes]:
    call = Call("balances", "transfer", {"to": ALICE.public, "amount": 1})
    return [Extrinsic.sign(BOB, node.chain.spec.chain_id, n, call).encode() for n in range(count)]


def test_accepted_transactions_survive_a_kill(tmp_path: Path) -> None:
    first = Node(_config(tmp_path))
    raws = _transfers(first, 3)
    for raw in raws:
        first.submit_extrinsic(raw)
    first.store.close()  # killed: the journal is never closed, its appends reached the OS
    again = Node(_config(tmp_path))
    try:
        assert len(again.pool) == 0
        again.behind = lambda: False  # type: ignore[method-assign]  # caught up: restore at once
        trio.run(again._restore_journal)
        assert len(again.pool) == 3
        assert sorted(again.journal.replay()) == sorted(raws)  # still pending: still journaled
    finally:
        again.store.close()


def test_the_journal_keeps_only_what_is_pending(tmp_path: Path) -> None:
    node = Node(_config(tmp_path))
    try:
        raws = _transfers(node, 4)
        for raw in raws:
            node.submit_extrinsic(raw)
        node.pool.remove([extrinsic_hash(raw) for raw in raws[:2]])  # included in a block, say
        node.journal.rewrite(node._journal_pending())
        assert sorted(node.journal.replay()) == sorted(raws[2:])
    finally:
        node.store.close()


def test_a_torn_tail_and_garbage_are_dropped(tmp_path: Path) -> None:
    journal = PoolJournal(tmp_path / "journal.bin", max_bytes=100)
    journal.record(b"a" * 10)
    journal.record(b"b" * 20)
    journal.close()
    with open(tmp_path / "journal.bin", "ab") as handle:
        handle.write((50).to_bytes(4, "big") + b"c" * 7)  # a record cut short by the kill
    assert PoolJournal(tmp_path / "journal.bin").replay() == [b"a" * 10, b"b" * 20]
    with open(tmp_path / "journal.bin", "wb") as handle:
        handle.write(b"\xff\xff\xff\xff" + b"x" * 10)  # garbage: nothing after it is trusted
    assert PoolJournal(tmp_path / "journal.bin").replay() == []


def test_the_journal_is_bounded(tmp_path: Path) -> None:
    journal = PoolJournal(tmp_path / "journal.bin", max_bytes=100)
    for _ in range(5):
        journal.record(b"z" * 30)
    assert journal.due()
    journal.rewrite([b"keep"])
    assert not journal.due() and journal.replay() == [b"keep"]
