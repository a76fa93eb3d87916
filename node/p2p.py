"""py-libp2p networking: a host with a persisted ed25519 node key, gossip
(see `node.gossip`), and a request-response protocol that serves and fetches
blocks by range, each with its justification when it has one.

Sync never relies on gossip: a node asks each peer for the blocks after its
best one, over a stream, in bounded batches, and imports them through the
same checks as any block. Every peer has a score (`node.peer_book`);
garbage costs it, time restores it, and a peer at the ban threshold is
disconnected and refused for a while, its address too when it keeps
coming back under new keys.
"""

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgpack
import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol, TSecurityOptions
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport

from node.gossip import Gossip
from node.peer_book import BANS_PER_ADDRESS, PeerBook
from runtime.codec import CodecError
from runtime.types import Block

log = logging.getLogger("vcoin.p2p")
MAX_REQUEST = 64
MAX_RESPONSE = 8 * 1024 * 1024
MAX_BLOCKS_PER_RESPONSE = 128
RESPONSE_BUDGET = 2 * 1024 * 1024
STREAM_TIMEOUT = 10.0
SyncItem = tuple[Block, bytes | None]


def load_node_key(path: Path) -> bytes:
    """The node's ed25519 seed: created once, kept 0600, so the peer id is stable."""
    if path.exists():
        seed = path.read_bytes()
        if len(seed) != 32:
            raise ValueError(f"{path} is not a 32-byte node key")
        return seed
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    seed = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(seed)
    return seed


def peer_id_of(seed: bytes) -> str:
    """The libp2p peer id a node key gives (what bootnode addresses carry)."""
    return str(ID.from_pubkey(create_new_key_pair(seed).public_key).to_string())


def noise_only(key_pair: KeyPair) -> TSecurityOptions:
    """Noise as the one security transport: py-libp2p's default also offers
    TLS, secio and plaintext, and a peer could pick plaintext (no encryption,
    an identity it merely claims) or secio (deprecated)."""
    noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
    return {NOISE_PROTOCOL_ID: noise}


async def read_frame(stream: Any, limit: int) -> bytes:
    header = await _read_exactly(stream, 4)
    size = int.from_bytes(header, "big")
    if size > limit:
        raise ValueError(f"frame of {size} bytes exceeds {limit}")
    return await _read_exactly(stream, size)


async def _read_exactly(stream: Any, size: int) -> bytes:
    data = bytearray()  # appended in place: a large frame in small chunks stays linear
    while len(data) < size:
        chunk = await stream.read(size - len(data))
        if not chunk:
            raise EOFError("stream closed mid-frame")
        data += chunk
    return bytes(data)


async def write_frame(stream: Any, payload: bytes) -> None:
    await stream.write(len(payload).to_bytes(4, "big") + payload)


class Network:
    def __init__(
        self,
        base_path: Path,
        genesis_hash: bytes,
        listen_host: str,
        port: int,
        bootnodes: list[str],
        blocks_from: Callable[[int, int], list[list[bytes | None]]],
        max_peers: int = 25,
    ) -> None:
        self.max_peers = max_peers
        self.protocol = TProtocol(f"/vcoin/{genesis_hash[:8].hex()}/sync/1")
        key_pair = create_new_key_pair(load_node_key(base_path / "network" / "secret_ed25519"))
        self.host = new_host(key_pair=key_pair, sec_opt=noise_only(key_pair))
        self.listen = multiaddr.Multiaddr(f"/ip4/{listen_host}/tcp/{port}")
        self.port = port
        self.bootnodes = bootnodes
        self.blocks_from = blocks_from
        self.host.set_stream_handler(self.protocol, self._serve)
        self.gossip = Gossip(self.host, genesis_hash, self.punish)
        self.book = PeerBook()
        self._denied: set[str] = set()  # addresses in the swarm's deny list
        self._nursery: trio.Nursery | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self.host.run(listen_addrs=[self.listen]), trio.open_nursery() as nursery:
            self._nursery = nursery
            async with self.gossip.running():
                yield
            nursery.cancel_scope.cancel()

    def is_banned(self, peer: Any) -> bool:
        banned = self.book.is_banned(str(peer), self.address_of(peer))
        self._lift_expired()
        return banned

    def _lift_expired(self) -> None:
        """Bans the book ended (however it noticed) end in gossip's blacklist too."""
        while self.book.expired:
            key = self.book.expired.pop()
            with contextlib.suppress(Exception):
                self.gossip.pubsub.remove_from_blacklist(ID.from_base58(key))

    def punish(self, peer: Any, points: int, reason: str) -> None:
        """Lower a peer's score; at the threshold, disconnect and ban it (and
        its address, when several of its peer ids were banned)."""
        address = self.address_of(peer)
        if not self.book.punish(str(peer), points, address):
            return
        log.warning("disconnecting peer %s: %s", peer, reason)
        with contextlib.suppress(Exception):
            self.gossip.pubsub.add_to_blacklist(peer)
        if address is not None and self.book.is_blocked(address):
            log.warning(
                "refusing connections from %s: %d of its peer ids were banned", address, BANS_PER_ADDRESS
            )
            with contextlib.suppress(Exception):
                self.host.get_network().connection_gate.add_to_deny_list(address)
                self._denied.add(address)
        if self._nursery is not None:
            self._nursery.start_soon(self._disconnect, peer)

    def address_of(self, peer: Any) -> str | None:
        """The IP address a connected peer reaches us from."""
        try:
            conns = self.host.get_network().connections.get(peer)
            for conn in conns if isinstance(conns, list) else [conns]:
                for holder in (conn, getattr(conn, "muxed_conn", None)):
                    remote = getattr(holder, "get_remote_address", lambda: None)()
                    if isinstance(remote, tuple | list) and len(remote) == 2:
                        return str(remote[0])
        except Exception:
            return None
        return None

    async def _disconnect(self, peer: Any) -> None:
        with contextlib.suppress(Exception):
            await self.host.disconnect(peer)

    async def enforce_limits(self) -> None:
        """Drop banned peers, then the lowest-scored beyond `max_peers`."""
        self.book.prune()
        self._lift_expired()
        for address in [a for a in self._denied if not self.book.is_blocked(a)]:
            self._denied.discard(address)
            with contextlib.suppress(Exception):
                self.host.get_network().connection_gate.remove_from_deny_list(address)
        peers = self.peers()
        for peer in peers:
            if self.is_banned(peer):
                await self._disconnect(peer)
        allowed = [p for p in peers if not self.is_banned(p)]
        allowed.sort(key=lambda p: self.book.score(str(p)), reverse=True)
        for peer in allowed[self.max_peers :]:
            log.info("over the peer limit (%d): disconnecting %s", self.max_peers, peer)
            await self._disconnect(peer)

    @property
    def peer_id(self) -> str:
        return str(self.host.get_id().to_string())

    def addresses(self) -> list[str]:
        return [f"{self.listen}/p2p/{self.peer_id}"]

    def peers(self) -> list[Any]:
        return [p for p in self.host.get_connected_peers() if p != self.host.get_id()]

    async def _serve(self, stream: Any) -> None:
        peer = stream.muxed_conn.peer_id
        if self.is_banned(peer):
            await stream.close()
            return
        try:
            with trio.fail_after(STREAM_TIMEOUT):
                request = msgpack.unpackb(await read_frame(stream, MAX_REQUEST), raw=False)
                if not (
                    type(request) is list
                    and len(request) == 2
                    and all(type(x) is int and x >= 0 for x in request)
                ):
                    raise ValueError("a sync request is [from_number, count]")
                start, count = request
                blocks = self.blocks_from(start, min(count, MAX_BLOCKS_PER_RESPONSE))
                await write_frame(stream, msgpack.packb(blocks, use_bin_type=True))
        except Exception as exc:
            self.punish(peer, 100, f"bad sync request ({exc})")
        finally:
            with contextlib.suppress(Exception):
                await stream.close()

    async def request_blocks(self, peer: Any, start: int, count: int) -> list[SyncItem]:
        """Blocks `start..` from one peer, each with its justification if it
        has one; garbage gets the peer banned."""
        with trio.fail_after(STREAM_TIMEOUT):  # opening a stream can stall too
            stream = await self.host.new_stream(peer, [self.protocol])
        try:
            with trio.fail_after(STREAM_TIMEOUT):
                await write_frame(stream, msgpack.packb([start, count]))
                payload = await read_frame(stream, MAX_RESPONSE)
            items = msgpack.unpackb(payload, raw=False)
            if type(items) is not list or len(items) > MAX_BLOCKS_PER_RESPONSE:
                raise CodecError("a sync response is a list of [block, justification]")
            return [_sync_item(item) for item in items]
        except (CodecError, ValueError, EOFError) as exc:
            self.punish(peer, 100, f"invalid sync response ({exc})")
            return []
        finally:
            with contextlib.suppress(Exception):
                await stream.close()

    async def connect_bootnodes(self) -> None:
        connected = {str(p) for p in self.peers()}
        for address in self.bootnodes:
            try:
                info = info_from_p2p_addr(multiaddr.Multiaddr(address))
            except Exception as exc:
                log.warning("ignoring bootnode %s: %s", address, exc)
                continue
            if str(info.peer_id) in connected or self.is_banned(info.peer_id):
                continue
            try:
                with trio.fail_after(STREAM_TIMEOUT):
                    await self.host.connect(info)
                log.info("connected to %s", info.peer_id)
            except Exception as exc:
                log.debug("bootnode %s unreachable: %s", address, exc)


def _sync_item(item: Any) -> SyncItem:
    if not (type(item) is list and len(item) == 2 and type(item[0]) is bytes):
        raise CodecError("a sync item is [block, justification or nil]")
    if item[1] is not None and type(item[1]) is not bytes:
        raise CodecError("a justification is bytes")
    return Block.decode(item[0]), item[1]
