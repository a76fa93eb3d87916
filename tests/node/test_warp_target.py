"""Warp sync's choice of target: a header from the future is refused, an
untrusted target needs a second peer whenever two or more answer, a refused
target is never chosen again and costs the peers that offered it; and the
node takes in no block or vote gossip while a warp runs."""

import time
from typing import Any

import pytest
import trio

from node.gossip import Gossiped
from node.peer_book import Offence
from node.service import Node
from node.warp import WarpSync
from node.warp_protocol import HEADERS
from node.warp_store import Target
from runtime.types import Header

SLOT_SECONDS = 2
GENESIS_SLOT = 1_000


class _Network:
    def __init__(self) -> None:
        self.punished: list[tuple[str, Offence]] = []

    def punish(self, peer: Any, offence: Offence, reason: str) -> None:
        self.punished.append((str(peer), offence))


class _Protocol:
    """Each peer's canonical headers, by number."""

    def __init__(self, chains: dict[str, dict[int, Header]]) -> None:
        self.chains = chains

    async def ask(self, peer: Any, request: list[Any], timeout: float = 0) -> Any:
        assert request[0] == HEADERS and request[2] == 1
        header = self.chains.get(peer, {}).get(request[1])
        return [] if header is None else [header.encode()]


def _warp(chains: dict[str, dict[int, Header]] | None = None) -> WarpSync:
    node = type("Node", (), {})()
    node.network = _Network()
    params = type("Params", (), {"slot_seconds": SLOT_SECONDS})()
    genesis = Header(bytes(32), 0, bytes(32), bytes(32), GENESIS_SLOT, bytes(32))
    node.chain = type("Chain", (), {"genesis": genesis, "spec": type("Spec", (), {"params": params})()})()
    return WarpSync(node, _Protocol(chains or {}))  # type: ignore[arg-type]


def _header(number: int, fork: int = 0, slot: int | None = None) -> Header:
    slot = GENESIS_SLOT + 2 * number if slot is None else slot
    return Header(fork.to_bytes(32, "big"), number, bytes(32), bytes(32), slot, bytes(32))


def _offer(header: Header, trusted: bool = False) -> Target:
    return Target(header, b"", trusted)


def test_a_header_from_the_future_is_refused() -> None:
    warp = _warp()
    now = int(time.time()) // SLOT_SECONDS
    assert warp._in_time("honest", _header(100))
    assert not warp._in_time("liar", _header(10**9, slot=10**12))  # the review's forged target
    assert not warp._in_time("liar", _header(10**9, slot=now))  # more blocks than slots since genesis
    network: Any = warp.node.network
    assert network.punished == [("liar", Offence.SPAM), ("liar", Offence.INVALID)]


def test_an_untrusted_target_needs_a_second_peer() -> None:
    high, honest, newer = _header(5_000, fork=1), _header(100), _header(101)
    # a lone liar among honest peers: the honest target, vouched for by two
    warp = _warp({"b": {100: honest}})
    chosen = trio.run(warp._pick, [("liar", _offer(high)), ("a", _offer(honest)), ("b", _offer(newer))])
    assert chosen is not None and chosen.header == honest
    assert warp.offered_by[honest.hash] == ["a", "b"]
    # the same header from two peers
    warp = _warp()
    chosen = trio.run(warp._pick, [("liar", _offer(high)), ("a", _offer(honest)), ("b", _offer(honest))])
    assert chosen is not None and chosen.header == honest
    # two peers that vouch for nothing of each other: none yet
    assert trio.run(_warp()._pick, [("liar", _offer(high)), ("a", _offer(honest))]) is None
    # one peer answered: its word is taken (logged)
    chosen = trio.run(_warp()._pick, [("a", _offer(high))])
    assert chosen is not None and chosen.header == high
    # a target the genesis validators signed needs nobody else
    chosen = trio.run(_warp()._pick, [("a", _offer(honest)), ("b", _offer(newer, trusted=True))])
    assert chosen is not None and chosen.header == newer


def test_a_refused_target_is_not_chosen_again_and_costs_its_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    stale = _header(100)
    warp = _warp()
    warp.node.chain.store = None  # type: ignore[assignment]
    chosen = trio.run(warp._pick, [("a", _offer(stale)), ("b", _offer(stale))])
    assert chosen is not None
    forgotten: list[Any] = []
    monkeypatch.setattr("node.warp.forget", forgotten.append)
    warp._refuse(chosen, "its download stalled", Offence.SLOW)
    network: Any = warp.node.network
    assert forgotten == [None] and network.punished == [("a", Offence.SLOW), ("b", Offence.SLOW)]
    assert trio.run(warp._pick, [("a", _offer(stale)), ("b", _offer(stale))]) is None


def test_no_gossip_is_taken_in_while_warping() -> None:
    node = Node.__new__(Node)
    node.warping = True  # nothing else is set: a handler that went on would fail
    assert trio.run(node._gossiped_blocks, "peer", [b"not even a block"]) is Gossiped.DROP
    assert trio.run(node._gossiped_votes_between_imports, "peer", [b"a vote"]) is Gossiped.DROP


def test_a_wait_for_the_target_block_is_told_not_silent(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class _Bodiless(_Network):
        asked = 0

        def peers(self) -> list[str]:
            return ["pruned-peer"]

        async def request_blocks(self, peer: Any, start: int, count: int) -> None:
            self.asked += 1  # holds no body at that height

        async def connect_bootnodes(self) -> None:
            pass

    warp = _warp()
    network = _Bodiless()
    warp.node.network = network  # type: ignore[misc, assignment]
    monkeypatch.setattr("node.warp.POLL_SECONDS", 0.01)
    monkeypatch.setattr("node.warp.BODY_WAIT_TOLD_SECONDS", 0.05)

    async def wait() -> None:
        with trio.move_on_after(0.5):
            await warp._body(_offer(_header(100)))
            raise AssertionError("a block came from a peer that has none")

    caplog.set_level("WARNING", logger="vcoin.warp")
    trio.run(wait)
    told = [r.getMessage() for r in caplog.records if "has served its block" in r.getMessage()]
    assert told and "state of #100 is here, but none of 1 peers" in told[0]
    assert network.asked > 20 and 2 <= len(told) <= 0.5 / 0.05 + 1  # every period, not every poll
