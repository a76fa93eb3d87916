"""py-libp2p networking: a host with a persisted ed25519 node key, gossip
(see `node.gossip`), and a request-response protocol that serves and fetches
blocks by range, each with its justification when it has one.

Sync never relies on gossip: a node asks each peer for the blocks after its
best one, over a stream, in bounded batches, and imports them through the
same checks as any block. Every peer has a score (`node.peer_book`); each
offence costs its declared points (garbage most; spam and a stalled request
grade a peer but never ban it), time restores it, and a peer at the ban threshold
is disconnected and refused for a while, its address too when it keeps
coming back under new keys.
"""

import contextlib
import ipaddress
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import trio
from libp2p import new_host
from libp2p.abc import INotifee
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.custom_types import TProtocol, TSecurityOptions
from libp2p.peer.id import ID
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport

from node.bootnodes import BootnodeDialer
from node.gossip import Gossip
from node.net_guard import failures, guard_stream_handlers
from node.p2p_addresses import advertised, listen_multiaddr, parse_public
from node.peer_book import BAN_SECONDS, BANS_PER_ADDRESS, WEIGHTS, Offence, PeerBook
from runtime.codec import CodecError
from runtime.types import Block

log = logging.getLogger("vcoin.p2p")
MAX_REQUEST = 64
MAX_RESPONSE = 8 * 1024 * 1024
MAX_BLOCKS_PER_RESPONSE = 128
RESPONSE_BUDGET = 2 * 1024 * 1024
MAX_PROOF_BYTES = 1024 * 1024
STREAM_TIMEOUT = 10.0
SOCKET_PATH = ("muxed_conn", "secured_conn", "conn", "read_writer", "stream")
RESTART_BACKOFF = 1.0
MAX_RESTART_BACKOFF = 60.0
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


class FrameTooLarge(ValueError):
    """A length prefix beyond what the protocol allows: no honest peer sends it."""


async def read_frame(stream: Any, limit: int) -> bytes:
    header = await _read_exactly(stream, 4)
    size = int.from_bytes(header, "big")
    if size > limit:
        raise FrameTooLarge(f"frame of {size} bytes exceeds {limit}")
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


@dataclass(frozen=True)
class SyncAnswer:
    best: int  # the peer's best block number when it answered
    items: list[SyncItem]
    proof: bytes | None = None  # the justification of its latest finalized block


class Network:
    def __init__(
        self,
        base_path: Path,
        genesis_hash: bytes,
        listen_hosts: list[str],
        port: int,
        bootnodes: list[str],
        blocks_from: Callable[[int, int], tuple[int, list[list[bytes | None]], bytes | None]],
        max_peers: int = 25,
        public_addrs: list[str] | None = None,
    ) -> None:
        self.max_peers = max_peers
        self.protocol = TProtocol(f"/vcoin/{genesis_hash[:8].hex()}/sync/2")
        self.key_pair = create_new_key_pair(load_node_key(base_path / "network" / "secret_ed25519"))
        self.listen = [listen_multiaddr(host, port) for host in listen_hosts]
        self.public = parse_public(public_addrs or [])
        self.port = port
        self.dialer = BootnodeDialer(bootnodes)
        self.blocks_from = blocks_from
        self.book = PeerBook()
        self.gossip = Gossip(genesis_hash, self.punish, self.is_banned)
        self.gossip.escalate = self._library_failed
        self._run_scope: trio.CancelScope | None = None
        self._failed_in: str | None = None  # the library daemon whose failure ends this host
        self.handlers: dict[TProtocol, Callable[[Any], Awaitable[None]]] = {}
        self._denied: set[str] = set()  # addresses in the swarm's deny list
        self._nursery: trio.Nursery | None = None
        self.restarts = 0
        self._build()
        self.set_stream_handler(self.protocol, self._serve)

    def _build(self) -> None:
        """A host (and gossip on it) with this node's key; built again after
        the library failed in a way its own guards could not contain."""
        self.host = new_host(
            key_pair=self.key_pair, sec_opt=noise_only(self.key_pair),
            addrs_factory=lambda candidates: advertised(self.public, candidates),
        )  # fmt: skip
        guard_stream_handlers(self.host)
        self.host.get_network().register_notifee(_BanAtConnect(self))
        for protocol, handler in self.handlers.items():
            self.host.set_stream_handler(protocol, handler)
        self.gossip.bind(self.host)

    def set_stream_handler(self, protocol: TProtocol, handler: Callable[[Any], Awaitable[None]]) -> None:
        self.handlers[protocol] = handler
        self.host.set_stream_handler(protocol, handler)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self._keep_running)
            yield
            nursery.cancel_scope.cancel()

    async def _keep_running(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Run the host and gossip; if the library fails anyway (an error
        that escapes it, or one of its daemons that cannot be restarted by
        itself: `_library_failed`), start a fresh host after a backoff. Only
        a failure to start at all (a port in use) reaches the caller."""
        started = False
        backoff = RESTART_BACKOFF
        while True:
            since = trio.current_time()
            self._failed_in = None
            failure: Exception | None = None
            try:
                with trio.CancelScope() as self._run_scope:
                    async with self.host.run(listen_addrs=self.listen), self.gossip.running():
                        if started:
                            log.warning("p2p host restarted; listening as %s", self.addresses()[0])
                        else:
                            started = True
                            task_status.started()
                        await trio.sleep_forever()
            except Exception as exc:
                if not started:
                    raise
                failure = exc
            finally:
                self._run_scope = None
            if trio.current_time() - since > MAX_RESTART_BACKOFF:
                backoff = RESTART_BACKOFF
            if failure is None:  # only `_library_failed` cancels the scope; it logged the cause
                log.warning("p2p host rebuilt in %.0f s: %s failed", backoff, self._failed_in)
            else:
                failures.report("the p2p host", failure)
                log.warning(
                    "p2p host failed (%s: %s); restarting in %.0f s", type(failure).__name__, failure, backoff
                )
            await self._close_host()
            await trio.sleep(backoff)
            backoff = min(backoff * 2, MAX_RESTART_BACKOFF)
            self._build()
            self.restarts += 1

    def _library_failed(self, where: str, exc: BaseException) -> None:
        """A library daemon failed in a way only a fresh host mends (its
        failure was logged where it happened): end the running host, and
        `_keep_running` builds another."""
        if self._failed_in is None:
            self._failed_in = where
        if self._run_scope is not None:
            self._run_scope.cancel()

    async def _close_host(self) -> None:
        """Close the failed host's sockets: the library's own close relies on
        tasks that died with it, and peers must see the connections end, or
        they keep talking to a host that no longer exists."""
        with contextlib.suppress(Exception):
            for conns in list(self.host.get_network().connections.values()):
                for conn in conns if isinstance(conns, list) else [conns]:
                    socket = _socket_of(conn)
                    if socket is not None:
                        socket.socket.close()
        with trio.move_on_after(STREAM_TIMEOUT), contextlib.suppress(Exception):
            await self.host.close()

    def is_banned(self, peer: Any) -> bool:
        return self.book.is_banned(str(peer), self.address_of(peer))

    def punish(self, peer: Any, offence: Offence, reason: str) -> None:
        """Lower a peer's score by the offence's points; at the threshold,
        disconnect and ban it (and its address, when several of its peer ids
        were banned). Gossip it originated still counts when an honest peer
        relays it: bans are checked against the forwarder only."""
        address = self.address_of(peer)
        if not self.book.punish(str(peer), offence, address):
            log.debug("peer %s loses %d points (%s): %s", peer, WEIGHTS[offence], offence, reason)
            return
        log.warning("banning peer %s for %.0f s: %s (%s)", peer, BAN_SECONDS, reason, offence)
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
        """The IP address a connected peer reaches us from (IPv4 or IPv6)."""
        try:
            conns = self.host.get_network().connections.get(peer)
            for conn in conns if isinstance(conns, list) else [conns]:
                address = _remote_ip(conn)
                if address is not None:
                    return address
        except Exception:
            return None
        return None

    def drop_if_banned(self, peer: Any) -> None:
        """A banned peer that dials again is dropped at once, not at the next
        sync round: until then it could go on sending what got it banned."""
        if self._nursery is not None and self.is_banned(peer):
            self._nursery.start_soon(self._disconnect, peer)

    async def _disconnect(self, peer: Any) -> None:
        with contextlib.suppress(Exception):
            await self.host.disconnect(peer)

    async def enforce_limits(self) -> None:
        """Drop banned peers, then the lowest-scored beyond `max_peers`."""
        self.book.prune()
        self.book.expired.clear()
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
        """Full multiaddrs (with /p2p/) others can dial: never a wildcard."""
        return [str(address) for address in self.host.get_addrs()] or [
            f"{address}/p2p/{self.peer_id}" for address in advertised(self.public, self.listen)
        ]

    def peers(self) -> list[Any]:
        return [p for p in self.host.get_connected_peers() if p != self.host.get_id()]

    async def _serve(self, stream: Any) -> None:
        """Answer one sync request."""

        async def answer(stream: Any, peer: Any) -> None:
            with trio.fail_after(STREAM_TIMEOUT):
                start, count = _sync_request(await read_frame(stream, MAX_REQUEST))
                best, blocks, proof = self.blocks_from(start, min(count, MAX_BLOCKS_PER_RESPONSE))
                await write_frame(stream, msgpack.packb([best, blocks, proof], use_bin_type=True))

        await self.serve_exchange(stream, "sync", answer)

    async def serve_exchange(
        self, stream: Any, what: str, answer: Callable[[Any, Any], Awaitable[None]]
    ) -> None:
        """One request-response exchange, served: a banned peer gets nothing;
        `answer(stream, peer)` reads the request and writes the answer. A peer
        that hangs up or stalls is only dropped; one whose request no honest
        node sends (`Garbage`, `FrameTooLarge`) loses score."""
        peer = stream.muxed_conn.peer_id
        try:
            if not self.is_banned(peer):
                await answer(stream, peer)
        except (Garbage, FrameTooLarge) as exc:
            self.punish(peer, Offence.GARBAGE, f"bad {what} request ({exc})")
        except Exception as exc:
            log.debug("%s request from %s ended early: %s", what, peer, type(exc).__name__)
        finally:
            await _close(stream)

    async def exchange(
        self,
        peer: Any,
        protocol: TProtocol,
        request: bytes,
        limit: int,
        what: str,
        timeout: float = STREAM_TIMEOUT,
    ) -> bytes | None:
        """Ask one peer: its answer's frame, or None when it hung up or
        stalled (a hang-up is not its fault as far as we can tell; a stall
        costs it a little, never a ban) or sent a frame past `limit` (much)."""
        try:
            with trio.fail_after(STREAM_TIMEOUT):  # opening a stream can stall too
                stream = await self.host.new_stream(peer, [protocol])
        except Exception as exc:
            log.debug("no %s stream to %s: %s", what, peer, type(exc).__name__)
            return None
        try:
            with trio.fail_after(timeout):
                await write_frame(stream, request)
                return await read_frame(stream, limit)
        except FrameTooLarge as exc:
            self.punish(peer, Offence.INVALID_SYNC_RESPONSE, f"invalid {what} response ({exc})")
        except trio.TooSlowError:
            self.punish(peer, Offence.SLOW, f"no {what} response within {timeout:.0f} s")
        except Exception as exc:
            log.debug("%s request to %s ended early: %s", what, peer, type(exc).__name__)
        finally:
            await _close(stream)
        return None

    async def request_blocks(self, peer: Any, start: int, count: int) -> SyncAnswer | None:
        """Blocks `start..` from one peer, each with its justification if it
        has one, and the peer's best number; None as `exchange` says, or when
        the answer is garbage (which costs the peer much)."""
        payload = await self.exchange(
            peer, self.protocol, msgpack.packb([start, count]), MAX_RESPONSE, "sync"
        )
        if payload is None:
            return None
        try:
            return _sync_answer(payload)
        except Garbage as exc:
            self.punish(peer, Offence.INVALID_SYNC_RESPONSE, f"invalid sync response ({exc})")
            return None

    async def connect_bootnodes(self) -> None:
        connected = {str(p) for p in self.peers()}
        for node in self.dialer.due(connected, self.is_banned):
            with contextlib.suppress(Exception):  # a dial that failed moments ago is ours to retry
                self.host.get_network().unblock_peer(node.info.peer_id)  # type: ignore[attr-defined]
            try:
                with trio.fail_after(STREAM_TIMEOUT):
                    await self.host.connect(node.info)
                self.dialer.connected(node)
            except Exception as exc:
                self.dialer.failed(node, exc)


def _socket_of(conn: Any) -> trio.SocketStream | None:
    """The TCP socket under a swarm connection's muxer and security layers."""
    layer = conn
    for _ in range(8):
        if isinstance(layer, trio.SocketStream):
            return layer
        layer = next(
            (getattr(layer, name) for name in SOCKET_PATH if getattr(layer, name, None) is not None), None
        )
    return None


def _remote_ip(conn: Any) -> str | None:
    """The peer's IP of one swarm connection. Read from the socket itself:
    py-libp2p's `get_remote_address` gives None for an IPv6 peer (its
    4-tuple), which would make IPv6 peers unbannable by address. An
    IPv4-mapped IPv6 address (a dual-stack socket) is given as IPv4."""
    socket = _socket_of(conn)
    remote: Any = None
    if socket is not None:
        with contextlib.suppress(OSError):
            remote = socket.socket.getpeername()
    for holder in (conn, getattr(conn, "muxed_conn", None)):
        if isinstance(remote, tuple | list) and len(remote) >= 2:
            break
        with contextlib.suppress(Exception):  # cached by the library, also once the socket closed
            remote = getattr(holder, "get_remote_address", lambda: None)()
    if not (isinstance(remote, tuple | list) and len(remote) >= 2):
        return None
    try:
        ip = ipaddress.ip_address(str(remote[0]).split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class Garbage(Exception):
    """What a peer sent cannot be what an honest node sends."""


async def _close(stream: Any) -> None:
    with contextlib.suppress(Exception):
        await stream.close()


def _sync_request(frame: bytes) -> tuple[int, int]:
    try:
        request = msgpack.unpackb(frame, raw=False)
    except Exception as exc:
        raise Garbage(f"undecodable: {exc}") from None
    if not (type(request) is list and len(request) == 2 and all(type(x) is int and x >= 0 for x in request)):
        raise Garbage("a sync request is [from_number, count]")
    return request[0], request[1]


def _sync_answer(payload: bytes) -> SyncAnswer:
    try:
        answer = msgpack.unpackb(payload, raw=False)
    except Exception as exc:
        raise Garbage(f"undecodable: {exc}") from None
    if not (type(answer) is list and len(answer) == 3 and type(answer[0]) is int and answer[0] >= 0):
        raise Garbage("a sync response is [best_number, items, latest justification or nil]")
    best, items, proof = answer
    if proof is not None and (type(proof) is not bytes or len(proof) > MAX_PROOF_BYTES):
        raise Garbage("a justification is bytes")
    if type(items) is not list or len(items) > MAX_BLOCKS_PER_RESPONSE:
        raise Garbage("sync items are a list of at most 128 [block, justification]")
    try:
        return SyncAnswer(best, [_sync_item(item) for item in items], proof)
    except CodecError as exc:
        raise Garbage(str(exc)) from None


def _sync_item(item: Any) -> SyncItem:
    if not (type(item) is list and len(item) == 2 and type(item[0]) is bytes):
        raise CodecError("a sync item is [block, justification or nil]")
    if item[1] is not None and type(item[1]) is not bytes:
        raise CodecError("a justification is bytes")
    return Block.decode(item[0]), item[1]


class _BanAtConnect(INotifee):
    def __init__(self, network: "Network") -> None:
        self.network = network

    async def connected(self, network: Any, conn: Any) -> None:
        with contextlib.suppress(Exception):  # a notifee's error would reach the swarm
            self.network.drop_if_banned(conn.muxed_conn.peer_id)

    async def disconnected(self, network: Any, conn: Any) -> None:
        pass

    async def opened_stream(self, network: Any, stream: Any) -> None:
        pass

    async def closed_stream(self, network: Any, stream: Any) -> None:
        pass

    async def listen(self, network: Any, multiaddr: Any) -> None:
        pass

    async def listen_close(self, network: Any, multiaddr: Any) -> None:
        pass
