"""Warp sync's download and store against forged states and crashes: a
forged root that would unfold a few nodes into exponentially many subtrees
is refused at once, a same-root retry goes on from its frontier, and an
install cut between its two writes is finished on restart."""

from pathlib import Path
from typing import Any

import pytest
import trio

from node.node_store import NODE_PREFIX
from node.storage import ChainStore
from node.warp_download import Download
from node.warp_store import (
    Target,
    forget,
    frontier,
    install,
    load_target,
    progress,
    repair_install,
    save_batch,
    start,
)
from runtime.codec import blake2b_256
from runtime.merkle import EMPTY_ROOT, TrieDB, present
from runtime.state_chunks import ForgedState, Subtree
from runtime.types import Block, Header


class _Network:
    def __init__(self) -> None:
        self.punished: list[Any] = []

    def peers(self) -> list[Any]:
        return []

    def is_banned(self, peer: Any) -> bool:
        return False

    def punish(self, *args: Any) -> None:
        self.punished.append(args)

    async def connect_bootnodes(self) -> None:
        pass


class _Protocol:
    bytes_in = 0


def _node(store: ChainStore) -> Any:
    node = type("Node", (), {})()
    node.chain = type("Chain", (), {"store": store})()
    node.network = _Network()
    return node


def _target(root: bytes, number: int = 5) -> Target:
    return Target(Header(bytes(32), number, root, bytes(32), number, bytes(32)), b"proof", False)


def test_a_state_whose_nodes_repeat_is_refused_at_once(tmp_path: Path) -> None:
    """N(k) = [N(k-1), M(k-1)], M(k) = [M(k-1), N(k-1)]: 2k distinct nodes,
    2^k positions. Held here (as an earlier download would leave them), the
    local walk meets a node at a second position and refuses the state."""
    store = ChainStore(tmp_path / "db")
    try:
        trie = TrieDB(store.nodes)
        base = trie.update(EMPTY_ROOT, {b"a": b"1", b"b": b"2", b"c": b"3"})
        raw = store.nodes.get(base)
        assert raw is not None
        n, m = present(raw)[:2]
        nodes: dict[bytes, bytes] = {}
        for _ in range(40):  # children 0 and 1
            raw_n, raw_m = b"\x01\x00\x03" + n + m, b"\x01\x00\x03" + m + n
            nodes[blake2b_256(raw_n)], nodes[blake2b_256(raw_m)] = raw_n, raw_m
            n, m = blake2b_256(raw_n), blake2b_256(raw_m)
        with store.db.write_batch() as batch:
            store.nodes.drain_into(batch)
            for key, value in nodes.items():
                batch.put(NODE_PREFIX + key, store.nodes.stored(value))
        target = _target(n)
        start(store, target)
        download = trio.run(_run, _node(store), target)
        assert download.forged and "two positions" in download.failure
        assert download.subtrees < 100
        with pytest.raises(ForgedState):  # the store refuses it too, writing nothing
            save_batch(store, {}, [], [Subtree(n, 1, 0)], progress(store))
    finally:
        store.close()


async def _run(node: Any, target: Target) -> Download:
    download = Download(node, _Protocol(), target)  # type: ignore[arg-type]
    with trio.fail_after(10):
        assert await download.run() is False
    return download


def test_the_same_root_goes_on_from_its_frontier(tmp_path: Path) -> None:
    store = ChainStore(tmp_path / "db")
    try:
        root, other = blake2b_256(b"root"), blake2b_256(b"other")
        assert start(store, _target(root)) is False
        child = Subtree(blake2b_256(b"child"), 1, 1)
        save_batch(store, {}, [Subtree(root, 0, 0)], [child], progress(store))
        forget(store)  # refused or stalled: the target goes, the frontier stays with its root
        assert load_target(store) is None
        assert start(store, _target(root, 7)) is True and frontier(store) == [child]
        assert load_target(store) == _target(root, 7)
        assert start(store, _target(other)) is False and frontier(store) == [Subtree(other, 0, 0)]
    finally:
        store.close()


def test_an_install_cut_short_is_finished_on_restart(tmp_path: Path) -> None:
    store = ChainStore(tmp_path / "db")
    try:
        target = _target(blake2b_256(b"root"))
        start(store, target)
        block = Block(target.header, ())
        finalize = store.finalize

        def crash(*args: Any) -> None:
            raise KeyboardInterrupt  # killed between the two writes

        store.finalize = crash  # type: ignore[method-assign,assignment]
        with pytest.raises(KeyboardInterrupt):
            install(store, target, block)
        store.finalize = finalize  # type: ignore[method-assign]
        assert store.justification(block.hash) is None and load_target(store) == target
        assert repair_install(store) is True
        assert store.justification(block.hash) == b"proof" and load_target(store) is None
        assert repair_install(store) is False and frontier(store) == []
    finally:
        store.close()
