"""The junk-vote attacker of issue 11 (finding 3), for `vcoin bench network`:
a peer that gossips finality votes about blocks nobody has, as fast as the
gossip router lets it, and comes back under a fresh key each time the node
bans it. Most messages carry votes signed by keys that are no validator's;
every tenth identity names a real validator with a made-up signature."""

import logging
import os
import time
from typing import Any

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.peerinfo import info_from_p2p_addr

from consensus.finality import Checkpoint, Vote
from node.gossip import FLUSH_HZ, MAX_ITEMS, VOTES, Gossip
from runtime.codec import encode
from runtime.crypto import Keypair
from tools.testnet import free_port

SUBSCRIBE_SECONDS = 5.0


def junk_messages(chain_id: bytes, validator: bytes, count: int = 16) -> tuple[list[bytes], bytes]:
    """`count` messages of stranger-signed junk, and one of forged validator votes."""
    strangers = [Keypair(os.urandom(32)) for _ in range(8)]
    messages = []
    for _ in range(count):
        votes = []
        for i in range(MAX_ITEMS // 2):
            height = 10**6 + i
            source, target = Checkpoint(height, os.urandom(32)), Checkpoint(height + 1, os.urandom(32))
            votes.append(encode(Vote.sign(strangers[i % 8], chain_id, source, target).to_wire()))
        messages.append(encode(votes))
    forged = [
        encode(Vote(Checkpoint(5, os.urandom(32)), Checkpoint(6, os.urandom(32)), validator, os.urandom(64)).to_wire())
        for _ in range(MAX_ITEMS // 2)
    ]  # fmt: skip
    return messages, encode(forged)


async def _one_identity(target: str, genesis: bytes, payload: list[bytes], until: float) -> int:
    host = new_host(key_pair=create_new_key_pair(os.urandom(32)))
    info = info_from_p2p_addr(multiaddr.Multiaddr(target))
    gossip = Gossip(genesis, lambda *_: None)
    gossip.bind(host)
    listen = multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{free_port()}")
    sent = 0
    async with host.run(listen_addrs=[listen]), gossip.running():
        await host.connect(info)
        topic = gossip.topics[VOTES]
        with trio.move_on_after(SUBSCRIBE_SECONDS):
            while info.peer_id not in gossip.pubsub.peer_topics.get(topic, set()):
                await trio.sleep(0.05)
        while info.peer_id in host.get_connected_peers() and time.monotonic() < until:
            await gossip.pubsub.publish(topic, payload[sent % len(payload)])
            sent += 1
            await trio.sleep(1 / (4 * FLUSH_HZ))  # the router's per-topic limit
    return sent


async def flood(
    target: str, genesis: bytes, chain_id: bytes, validator: bytes, seconds: float
) -> dict[str, Any]:
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)  # the attacker's own router grumbles at its bans
    stranger_junk, forged_junk = junk_messages(chain_id, validator)
    until = time.monotonic() + seconds
    messages = identities = 0
    while time.monotonic() < until:
        identities += 1
        payload = [forged_junk] if identities % 10 == 0 else stranger_junk
        try:
            with trio.fail_after(max(1.0, until - time.monotonic() + 2)):
                messages += await _one_identity(target, genesis, payload, until)
        except Exception:  # refused, reset or banned mid-handshake: come back as someone else
            await trio.sleep(0.1)
    return {
        "junk_messages": messages,
        "junk_votes": messages * (MAX_ITEMS // 2),
        "junk_identities": identities,
    }
