"""The state protocol's limits: malformed or oversized requests are refused,
answers are bounded, an oversized or malformed answer costs its sender."""

from contextlib import nullcontext
from pathlib import Path
from types import MethodType
from typing import Any

import msgpack
import pytest
import trio

from node.p2p import Network
from node.peer_book import Offence
from node.storage import ChainStore
from node.warp_protocol import (
    ANSWER_BUDGET,
    BUSY,
    HEADERS,
    MAX_HASHES,
    MAX_REQUEST,
    NODES,
    TARGET,
    UNKNOWN_ROOT,
    VISIT_BUDGET,
    BadRequest,
    StateServer,
    parse_request,
)
from runtime.codec import blake2b_256
from runtime.merkle import EMPTY_ROOT, TrieDB, present
from runtime.state_chunks import ANSWER_INNER, ANSWER_LEAVES


def _pack(value: Any) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True))


def test_malformed_requests_are_refused() -> None:
    root = bytes(32)
    assert parse_request(_pack([TARGET])) == [TARGET]
    assert parse_request(_pack([NODES, root, 16, [root]]))[0] == NODES
    assert parse_request(_pack([HEADERS, 1, 10])) == [HEADERS, 1, 10]
    for bad in (b"\xc1", _pack({}), _pack([]), _pack([9]), _pack([TARGET, 1]), _pack([NODES, b"x", 16, []]),
                _pack([NODES, root, 0, []]), _pack([NODES, root, 16, [b"short"]]),
                _pack([NODES, root, 16, [root] * (MAX_HASHES + 1)]), _pack([HEADERS, -1, 5]),
                _pack([HEADERS, 1, "5"])):  # fmt: skip
        with pytest.raises(BadRequest):
            parse_request(bad)
    assert len(_pack([NODES, root, 16, [root] * MAX_HASHES])) < MAX_REQUEST


def _store(tmp_path: Path, keys: int) -> tuple[ChainStore, bytes]:
    store = ChainStore(tmp_path / "db")
    trie = TrieDB(store.nodes)
    root = trie.update(EMPTY_ROOT, {blake2b_256(i.to_bytes(4, "big")): bytes(200) for i in range(keys)})
    with store.db.write_batch() as batch:
        store.nodes.drain_into(batch)
    return store, root


def test_answers_stay_within_the_budget(tmp_path: Path) -> None:
    store, root = _store(tmp_path, 30_000)
    try:
        server = StateServer(store)
        assert server.answer([NODES, blake2b_256(b"nothing"), 16, [root]]) == [UNKNOWN_ROOT, []]
        level = [root]  # every subtree two levels down (~117 leaves): small enough for their leaves
        for _ in range(2):
            level = [c for h in level for c in present(store.nodes.get(h) or b"")]
        status, answers = server.answer([NODES, root, 1024, level])
        assert status == "" and 0 < len(answers) < len(level)  # cut at the byte budget
        assert sum(a[0] == ANSWER_LEAVES for a in answers) > len(answers) // 2  # the probe guesses
        size = sum(len(a[1]) if a[0] == ANSWER_INNER else sum(map(len, a[1])) for a in answers)
        assert ANSWER_BUDGET / 2 < size <= ANSWER_BUDGET
        status, answers = server.answer([NODES, root, 10_000_000, [root]])
        assert answers[0][0] == ANSWER_INNER  # asking for more leaves than the cap changes nothing
        assert server.answer([HEADERS, 0, 10_000]) == []  # no blocks in this store
        assert server.answer([TARGET]) == []  # no finalized block with a justification
    finally:
        store.close()


class _Network:
    def __init__(self) -> None:
        self.punished: list[tuple[Offence, str]] = []
        self.banned: set[str] = set()

    def punish(self, peer: Any, offence: Offence, reason: str) -> None:
        self.punished.append((offence, reason))

    def peers(self) -> list[str]:
        return ["peer"]

    def is_banned(self, peer: Any) -> bool:
        return False

    async def connect_bootnodes(self) -> None:
        pass


def test_a_malformed_or_oversized_answer_costs_its_sender(tmp_path: Path) -> None:
    from node.warp_download import Download
    from node.warp_store import Target, start
    from runtime.state_chunks import Subtree
    from runtime.types import Header

    store, root = _store(tmp_path, 100)
    network = _Network()

    class Node:
        chain = type("C", (), {"store": store})()

    Node.network = network  # type: ignore[attr-defined]

    class Protocol:
        bytes_in = 0

        def __init__(self, wire: Any) -> None:
            self.wire = wire

        async def ask(self, peer: Any, request: Any, timeout: float = 0) -> Any:
            return self.wire

    target = Target(Header(bytes(32), 5, root, bytes(32), 5, bytes(32)), b"", True)
    start(store, target)
    batch = [Subtree(root, 0, 0)]
    try:
        for wire in ([""], ["", [[ANSWER_INNER, b"x"]] * 2], ["", []], ["", [[ANSWER_INNER, b"\x01" * 65]]]):
            network.punished.clear()
            left = trio.run(_fetch, Download, Node(), Protocol(wire), target, batch)
            assert left == batch and network.punished, wire
        assert network.punished[0][0] is Offence.INVALID  # a chunk that does not prove
    finally:
        store.close()


async def _fetch(download: Any, node: Any, protocol: Any, target: Any, batch: Any) -> Any:
    return await download(node, protocol, target)._fetch("peer", batch)


class _Stream:
    """Announces a frame larger than any answer may be."""

    async def write(self, data: bytes) -> None:
        pass

    async def read(self, size: int) -> bytes:
        return (1 << 30).to_bytes(4, "big")[:size]

    async def close(self) -> None:
        pass


def test_an_oversized_answer_is_refused_and_punished() -> None:
    from node.warp_protocol import StateProtocol

    network = _Network()

    class Host:
        async def new_stream(self, peer: Any, protocols: Any) -> _Stream:
            return _Stream()

    network.host = Host()  # type: ignore[attr-defined]
    network.exchange = MethodType(Network.exchange, network)  # type: ignore[attr-defined]  # the real ask path
    protocol = StateProtocol.__new__(StateProtocol)
    protocol.network, protocol.protocol, protocol.bytes_in = network, "p", 0  # type: ignore[assignment]
    assert trio.run(protocol.ask, "peer", [TARGET]) is None
    assert network.punished[0][0] is Offence.INVALID_SYNC_RESPONSE and "exceeds" in network.punished[0][1]


def test_serving_is_cheap_and_fair(tmp_path: Path) -> None:
    """A request of many subtrees just over the leaf cap (each a wasted
    leaves walk before) ends within one budget of node visits; a subtree
    asked for twice is a malformed request; one peer gets one request
    answered at a time; the serving trie's cache is locked (two threads)."""
    store, root = _store(tmp_path, 30_000)
    try:
        server = StateServer(store)
        assert server.trie._cache._lock is not None and not isinstance(server.trie._cache._lock, nullcontext)
        # 16 subtrees of ~1,900 leaves: over the cap, under the probe's limit
        level = present(store.nodes.get(root) or b"")
        reads = 0
        get = store.nodes.get

        def counting(key: bytes) -> bytes | None:
            nonlocal reads
            reads += 1
            return get(key)

        store.nodes.get = counting  # type: ignore[method-assign]
        server.trie = TrieDB(store.nodes, cache_bytes=0)
        status, answers = server.answer([NODES, root, 1024, level])
        assert status == "" and 0 < len(answers) < len(level)  # the rest next time
        assert reads <= VISIT_BUDGET + 2 * len(answers) + 2
        with pytest.raises(BadRequest):
            parse_request(_pack([NODES, root, 16, [level[0], level[1], level[0]]]))

        async def two_at_once() -> list[Any]:
            results: list[Any] = []
            async with trio.open_nursery() as nursery:
                for _ in range(2):
                    nursery.start_soon(lambda: _append(results, server.respond([TARGET], "peer")))
            return results

        assert sorted(map(str, trio.run(two_at_once))) == sorted(map(str, [[BUSY, []], []]))
        assert trio.run(server.respond, [TARGET], "peer") == []  # its turn again once answered
    finally:
        store.close()


async def _append(results: list[Any], awaitable: Any) -> None:
    results.append(await awaitable)
