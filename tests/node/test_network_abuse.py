"""A peer that sends garbage, oversized or wrongly-signed messages is
disconnected, while the validators keep finalizing."""

import os
from pathlib import Path
from typing import Any

import multiaddr
import pytest
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.peerinfo import info_from_p2p_addr

from consensus.finality import Checkpoint, Vote
from consensus.slots import seal
from node.gossip import BLOCKS, EXTRINSICS, VOTES, Gossip
from node.p2p import read_frame, write_frame
from runtime.codec import encode
from runtime.crypto import Keypair, dev_keypair
from runtime.types import Block, Header
from tests.node.test_network import Net
from tools.testnet import free_port

pytestmark = pytest.mark.slow
PATIENCE = 45.0  # seconds: every wait ends as soon as its condition holds; a loaded machine needs more


async def _connect(host: Any, info: Any) -> None:
    """Dial until it works: on a loaded machine a dial may time out."""
    with trio.fail_after(PATIENCE):
        while True:
            try:
                await host.connect(info)
                return
            except Exception:
                await trio.sleep(0.5)


async def _misbehave(target: str, genesis: bytes, topic: str, payload: bytes) -> bool:
    """Connect as a fresh peer, publish `payload` on `topic`; True if the node
    then dropped the connection (seen the moment it happens: the host's own
    auto-connector may dial again right after)."""
    host = new_host(key_pair=create_new_key_pair(os.urandom(32)))
    info = info_from_p2p_addr(multiaddr.Multiaddr(target))
    gossip = Gossip(genesis, lambda *_: None)
    gossip.bind(host)
    listen = multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{free_port()}")
    dropped = trio.Event()

    async def publish() -> None:
        while True:
            await gossip.pubsub.publish(gossip.topics[topic], payload)
            await trio.sleep(1.0)

    async def watch() -> None:
        while info.peer_id in host.get_connected_peers():
            await trio.sleep(0.02)
        dropped.set()

    async with host.run(listen_addrs=[listen]), gossip.running():
        await _connect(host, info)
        with trio.move_on_after(PATIENCE):  # publish only once the node's subscription is known
            while info.peer_id not in gossip.pubsub.peer_topics.get(gossip.topics[topic], set()):
                await trio.sleep(0.1)
        with trio.move_on_after(PATIENCE):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch)
                nursery.start_soon(publish)
                await dropped.wait()
                nursery.cancel_scope.cancel()
        return dropped.is_set()


async def _bad_sync_request(target: str) -> bool:
    host = new_host(key_pair=create_new_key_pair(os.urandom(32)))
    info = info_from_p2p_addr(multiaddr.Multiaddr(target))
    listen = multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{free_port()}")
    async with host.run(listen_addrs=[listen]):
        await _connect(host, info)
        protocol = next(p for p in await _protocols(host, info.peer_id) if "/sync/" in p)
        stream = await host.new_stream(info.peer_id, [TProtocol(protocol)])
        await write_frame(stream, b"\x93not a request")
        with trio.move_on_after(3.0), pytest.raises(Exception):  # noqa: B017, PT011 - closed either way
            await read_frame(stream, 1024)
        with trio.move_on_after(PATIENCE):
            while info.peer_id in host.get_connected_peers():
                await trio.sleep(0.1)
        return info.peer_id not in host.get_connected_peers()


async def _protocols(host: object, peer: object) -> list[str]:
    for _ in range(50):  # identify runs right after connecting
        protos = [str(p) for p in host.get_peerstore().get_protocols(peer)]  # type: ignore[attr-defined]
        if protos:
            return protos
        await trio.sleep(0.1)
    return []


def test_garbage_peers_are_disconnected_while_the_net_finalizes(tmp_path: Path) -> None:
    net = Net(tmp_path).start()
    try:
        alice = net.nodes[0]
        net.wait_finalized(2)
        target = alice.rpc("system_localListenAddresses")[0]
        genesis = bytes.fromhex(alice.rpc("chain_getBlockHash", 0)[2:])
        first = bytes.fromhex(alice.rpc("chain_getBlockHash", 1)[2:])
        bob = dev_keypair("//bob").public
        forged = Vote(
            Checkpoint(0, genesis), Checkpoint(1, first), bob, bytes(64)
        )  # known blocks, bad signature
        stranger = Keypair(os.urandom(32))  # no validator: its orphans used to send the node syncing
        header = Header(os.urandom(32), 2, bytes(32), bytes(32), 10**6, stranger.public)
        orphan = Block(header, (), seal(stranger, header)).encode()
        junk_votes = [
            Vote(
                Checkpoint(10**6, os.urandom(32)), Checkpoint(10**6 + 1, os.urandom(32)), bob, os.urandom(64)
            )
            for _ in range(64)
        ]
        cases = {
            "garbage block": (BLOCKS, b"\xc1 not msgpack"),
            "orphan blocks by a stranger": (BLOCKS, encode([orphan])),
            "oversized extrinsics": (EXTRINSICS, encode([os.urandom(600 * 1024)])),
            "wrongly signed vote": (VOTES, encode([encode(forged.to_wire())])),
            # votes about blocks nobody has used to be parked unchecked and relayed
            "junk votes about unknown blocks": (
                VOTES,
                encode([encode(junk.to_wire()) for junk in junk_votes]),
            ),
        }
        for name, (topic, payload) in cases.items():
            assert trio.run(_misbehave, target, genesis, topic, payload), f"{name}: peer kept"
        assert trio.run(_bad_sync_request, target), "bad sync request: peer kept"
        before = min(net.record_finality())
        net.wait_finalized(before + 3, timeout=40)
        assert "banning peer" in alice.log.read_text()
    finally:
        net.stop()
