"""A failure inside py-libp2p never reaches the node: tasks of its pubsub and
router are isolated (one-shot tasks dropped, daemons restarted), and a
failure that escapes the host anyway rebuilds the host on the same port.
Ban-related fairness: a closed stream is not misbehaviour, and gossip an
honest peer relays counts even when its originator is banned here."""

import logging
from pathlib import Path
from typing import Any

import multiaddr
import trio
from libp2p.peer.peerinfo import info_from_p2p_addr

from node.gossip import BLOCKS, Gossiped
from node.net_guard import failures
from node.p2p import Network
from node.peer_book import Offence
from tools.testnet import free_port

GENESIS = bytes(range(32))
PATIENCE = 60.0


def _network(base: Path, bootnodes: list[str] | None = None) -> Network:
    return Network(
        base, GENESIS, ["127.0.0.1"], free_port(), bootnodes or [], lambda start, count: (0, [], None)
    )


async def _until(condition: Any, what: str) -> None:
    with trio.fail_after(PATIENCE):
        while not condition():
            await trio.sleep(0.05)


async def _connect(a: Network, b: Network) -> None:
    info = info_from_p2p_addr(multiaddr.Multiaddr(b.addresses()[0]))
    with trio.fail_after(PATIENCE):
        while info.peer_id not in a.host.get_connected_peers():
            try:
                await a.host.connect(info)
            except Exception:
                await trio.sleep(0.2)


def _recorder(network: Network) -> list[bytes]:
    seen: list[bytes] = []

    def handler(peer: Any, items: list[bytes]) -> Gossiped:
        seen.extend(items)
        return Gossiped.RELAY

    network.gossip.on(BLOCKS, handler)
    return seen


async def _gossip_arrives(sender: Network, seen: list[bytes], item: bytes) -> None:
    """Publish until the item arrives (a fresh mesh takes a heartbeat or two)."""
    with trio.fail_after(PATIENCE):
        while item not in seen:
            sender.gossip.publish(BLOCKS, item)
            await trio.sleep(0.5)


def test_library_task_failures_stay_inside_the_library(tmp_path: Path) -> None:
    async def main() -> None:
        a, b = _network(tmp_path / "a"), _network(tmp_path / "b")
        seen = _recorder(b)
        daemon_runs: list[int] = []

        async def boom() -> None:
            raise KeyError("injected, like the teardown race")

        async def flaky_daemon() -> None:
            daemon_runs.append(1)
            if len(daemon_runs) == 1:
                raise RuntimeError("injected daemon failure")
            await trio.sleep_forever()

        async with a.running(), b.running():
            await _connect(a, b)
            before = failures.total
            a.gossip.pubsub.manager.run_task(boom)
            a.gossip.router.manager.run_task(boom)
            a.gossip.pubsub.manager.run_daemon_task(flaky_daemon)
            await _until(lambda: failures.total >= before + 3 and len(daemon_runs) >= 2, "failures isolated")
            assert a.gossip.pubsub.manager.is_running and a.gossip.router.manager.is_running
            await _gossip_arrives(a, seen, b"after the failures")

    trio.run(main)


def test_a_failure_that_escapes_the_host_rebuilds_it(tmp_path: Path) -> None:
    async def main() -> None:
        a, b = _network(tmp_path / "a"), _network(tmp_path / "b")
        seen = _recorder(b)
        async with a.running(), b.running():
            await _connect(a, b)
            old_host, address = a.host, a.addresses()[0]

            async def boom() -> None:
                raise KeyError("injected into the swarm")

            a.host.get_network().manager.run_task(boom)  # type: ignore[attr-defined]
            await _until(lambda: a.host is not old_host and a.restarts >= 1, "host rebuilt")
            assert a.addresses()[0] == address  # same key, same port
            await _connect(b, a)
            await _gossip_arrives(a, seen, b"after the restart")

    trio.run(main)


def test_closed_streams_are_not_misbehaviour(tmp_path: Path) -> None:
    async def main() -> None:
        a, b = _network(tmp_path / "a"), _network(tmp_path / "b")
        async with a.running(), b.running():
            await _connect(b, a)
            a_id, b_id = a.host.get_id(), b.host.get_id()
            a.punish(b_id, Offence.GARBAGE, "test ban")  # a bans b: b's streams to a are closed
            assert a.is_banned(b_id)
            await _connect(b, a)  # b comes back; a closes its sync stream at once
            answer = await b.request_blocks(a_id, 0, 10)
            assert answer is None
            assert b.book.score(str(a_id)) == 0 and not b.is_banned(a_id)

    trio.run(main)


def test_relayed_gossip_counts_although_its_originator_is_banned(tmp_path: Path) -> None:
    async def main() -> None:
        a, b, c = _network(tmp_path / "a"), _network(tmp_path / "b"), _network(tmp_path / "c")
        _recorder(b)  # b relays what a originates
        seen_by_c = _recorder(c)
        async with a.running(), b.running(), c.running():
            await _connect(a, b)
            await _connect(c, b)
            c.punish(a.host.get_id(), Offence.GARBAGE, "test ban")  # c never talks to a itself
            await _gossip_arrives(a, seen_by_c, b"from a banned originator, via b")

    trio.run(main)


def test_a_malformed_pubsub_stream_costs_one_stream_not_the_host(tmp_path: Path) -> None:
    """A peer's garbage on pubsub's own protocol (py-libp2p raises a protobuf
    DecodeError from its stream handler) is contained to that stream."""
    from libp2p.custom_types import TProtocol
    from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11

    async def main() -> None:
        a, b = _network(tmp_path / "a"), _network(tmp_path / "b")
        seen = _recorder(b)
        async with a.running(), b.running():
            await _connect(a, b)
            before = failures.total
            for _ in range(3):
                stream = await a.host.new_stream(b.host.get_id(), [TProtocol(PROTOCOL_ID_V11)])
                await stream.write(b"\x10" + b"\xff" * 16)  # a varint length, then no valid protobuf
                await stream.close()
            await _until(lambda: failures.total > before, "the handler's failure isolated")
            assert b.restarts == 0
            await _gossip_arrives(a, seen, b"after the garbage")

    trio.run(main)


def test_concurrent_large_writes_to_one_pubsub_stream_do_not_interleave(tmp_path: Path) -> None:
    """gossipsub writes to a peer's stream from two tasks at once (its queue
    and its message cache for a joining peer); a large message spans many
    yamux frames, so unserialized writes reach the peer as garbage."""
    from libp2p.pubsub.pb import rpc_pb2

    async def main() -> None:
        a, b = _network(tmp_path / "a"), _network(tmp_path / "b")
        seen = _recorder(b)
        async with a.running(), b.running():
            await _connect(a, b)
            b_id = b.host.get_id()
            await _until(lambda: b_id in a.gossip.pubsub.peers, "a's pubsub stream to b")
            stream = a.gossip.pubsub.peers[b_id]
            before = failures.total
            rpcs = [
                rpc_pb2.RPC(publish=[rpc_pb2.Message(data=bytes([i]) * 900_000, topicIDs=["/none"])])
                for i in range(4)
            ]
            async with trio.open_nursery() as nursery:
                for rpc in rpcs:
                    nursery.start_soon(a.gossip.pubsub.write_msg, stream, rpc)
            await _gossip_arrives(a, seen, b"after the large writes")  # the stream still works
            assert failures.total == before

    trio.run(main)


def test_a_failed_pubsub_queue_reader_rebuilds_the_host(
    tmp_path: Path, monkeypatch: Any, caplog: Any
) -> None:
    """pubsub's dead-peer queue reader runs inside `async with` its channel:
    once it raised, the channel is closed and calling it again can only fail
    again (ClosedResourceError, forever), so dead peers stay in `peers` and a
    reconnecting peer's gossip never arrives. Its failure rebuilds the host
    instead, logged once with its cause."""
    from libp2p.pubsub.pubsub import Pubsub

    target: list[Pubsub] = []  # a's first pubsub: b's sees the disconnect too
    original = Pubsub._handle_dead_peer

    def fails_once(self: Pubsub, peer_id: Any) -> None:
        if target and self is target[0]:
            target.clear()
            raise KeyError("injected in the dead-peer handler")
        original(self, peer_id)

    monkeypatch.setattr(Pubsub, "_handle_dead_peer", fails_once)

    async def main() -> None:
        a, b = _network(tmp_path / "a"), _network(tmp_path / "b")
        seen = _recorder(a)
        async with a.running(), b.running():
            await _connect(b, a)
            b_id = b.host.get_id()
            await _until(lambda: b_id in a.gossip.pubsub.peers, "b in a's pubsub")
            old_host = a.host
            target.append(a.gossip.pubsub)
            await b.host.disconnect(a.host.get_id())
            await _until(lambda: a.restarts >= 1, "a's host rebuilt")
            assert a.host is not old_host
            await _connect(b, a)
            await _gossip_arrives(b, seen, b"after the reconnect")
            await b.host.disconnect(a.host.get_id())  # the fresh host's dead-peer handler works
            await _until(lambda: b_id not in a.gossip.pubsub.peers, "b gone from a's pubsub")
            assert a.restarts == 1

    with caplog.at_level(logging.WARNING, logger="vcoin.p2p"):
        trio.run(main)
    causes = [r for r in caplog.records if "injected in the dead-peer handler" in r.getMessage()]
    assert len(causes) == 1, [r.getMessage() for r in caplog.records]
    assert "handle_dead_peer_queue" in causes[0].getMessage()
    assert not [r for r in caplog.records if "ClosedResourceError" in r.getMessage()]


def test_a_daemon_that_fails_again_soon_after_its_restart_is_escalated(monkeypatch: Any) -> None:
    from node import net_guard

    monkeypatch.setattr(net_guard, "DAEMON_BACKOFF", 0.01)
    escalated: list[tuple[str, BaseException]] = []
    runs: list[int] = []

    async def fails() -> None:
        runs.append(1)
        raise RuntimeError(f"injected failure {len(runs)}")

    async def main() -> None:
        guarded = net_guard.guard_task(fails, True, lambda where, exc: escalated.append((where, exc)))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(guarded)
            await _until(lambda: escalated, "escalated")
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert len(runs) == 2  # restarted once, then handed up rather than looped on
    assert "fails" in escalated[0][0] and "injected failure 2" in str(escalated[0][1])
