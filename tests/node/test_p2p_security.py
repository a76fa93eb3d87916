"""Noise is the node's only security transport: a peer that speaks only
plaintext, secio or TLS cannot connect; a Noise peer can."""

import os

import multiaddr
import pytest
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.custom_types import TProtocol, TSecurityOptions
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from libp2p.security.secio import transport as secio
from libp2p.security.tls.transport import PROTOCOL_ID as TLS_PROTOCOL_ID
from libp2p.security.tls.transport import TLSTransport

from node.p2p import noise_only
from tests.nodeproc import NodeProcess
from tools.testnet import free_port

OFFERS = {
    "plaintext": lambda kp: {TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(kp)},
    "secio": lambda kp: {TProtocol(secio.ID): secio.Transport(kp)},
    "tls": lambda kp: {TLS_PROTOCOL_ID: TLSTransport(kp)},
    "noise": noise_only,
}


async def _connects(target: str, security: TSecurityOptions, key_pair: KeyPair) -> bool:
    host = new_host(key_pair=key_pair, sec_opt=security)
    info = info_from_p2p_addr(multiaddr.Multiaddr(target))
    async with host.run(listen_addrs=[multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{free_port()}")]):
        try:
            with trio.fail_after(10):
                await host.connect(info)
        except Exception:
            return False
        return info.peer_id in host.get_connected_peers()


@pytest.mark.parametrize("offer", sorted(OFFERS))
def test_only_noise_peers_connect(dev_node: NodeProcess, offer: str) -> None:
    target = dev_node.rpc("system_localListenAddresses")[0]
    key_pair = create_new_key_pair(os.urandom(32))
    connected = trio.run(_connects, target, OFFERS[offer](key_pair), key_pair)
    assert connected == (offer == "noise"), offer
    best = dev_node.best()
    dev_node.wait_for_block(best + 1)  # a refused handshake leaves the node running
