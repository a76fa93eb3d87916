"""Fetching blobs (large job results, inputs referenced by hash) from peers.

A request-response protocol `/vcoin/<genesis>/blob/1`: the request is a
32-byte hash, the answer the blob or nothing. Blobs are fetched on demand:
an RPC asking for a result this node lacks, or a worker missing a job's
input, marks the hash wanted, and a background task asks each peer in turn.
A blob that does not hash to what was asked for costs its sender as invalid
data (`Offence.INVALID`: twice and it is banned), a malformed request as
garbage (banned at once), a fetch that times out a little (`Offence.SLOW`,
never a ban: large blobs take a slow peer long).

The wanted set is bounded (the oldest wish gives way) and each hash is asked
for again only after a backoff, so nobody can make this node ask its peers
for an unbounded number of blobs or keep it busy asking for ones nobody has.
"""

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import trio
from libp2p.custom_types import TProtocol

from node.p2p import STREAM_TIMEOUT, FrameTooLarge, Network, read_frame, write_frame
from node.peer_book import Offence
from offchain.blobs import BlobStore
from runtime.codec import blake2b_256

log = logging.getLogger("vcoin.blobs")
MAX_BLOB_FRAME = 64 * 1024 * 1024
WANT_SECONDS = 600.0
POLL_SECONDS = 0.5
MAX_WANTED = 256
RETRY_SECONDS = (1.0, 60.0)  # first and longest wait before a hash is asked for again


class BlobExchange:
    def __init__(self, network: Network, blobs: BlobStore, genesis_hash: bytes) -> None:
        self.network = network
        self.blobs = blobs
        self.protocol = TProtocol(f"/vcoin/{genesis_hash[:8].hex()}/blob/1")
        self.wanted: dict[bytes, Wish] = {}  # insertion order: the oldest first
        network.set_stream_handler(self.protocol, self._serve)

    def want(self, digest: bytes, max_size: int = MAX_BLOB_FRAME) -> None:
        """Fetch `digest` from peers, accepting at most `max_size` bytes (a
        job's input is as large as its fee says, or it is not its input)."""
        if digest in self.wanted or self.blobs.has(digest):
            return
        while len(self.wanted) >= MAX_WANTED:
            del self.wanted[next(iter(self.wanted))]
        now = trio.current_time()
        self.wanted[digest] = Wish(since=now, next_try=now, wait=RETRY_SECONDS[0],
                                   max_size=min(max_size, MAX_BLOB_FRAME))  # fmt: skip

    async def _serve(self, stream: Any) -> None:
        async def answer(stream: Any, peer: Any) -> None:
            with trio.fail_after(STREAM_TIMEOUT):
                digest = await read_frame(stream, 32)
                if len(digest) != 32:
                    raise FrameTooLarge("a blob request is a 32-byte hash")
                data = self.blobs.get(digest) or b""
            with trio.fail_after(STREAM_TIMEOUT * 6):
                await write_frame(stream, data if len(data) <= MAX_BLOB_FRAME else b"")

        await self.network.serve_exchange(stream, "blob", answer)

    async def fetch(self, peer: Any, digest: bytes, max_size: int = MAX_BLOB_FRAME) -> bytes | None:
        with trio.fail_after(STREAM_TIMEOUT):
            stream = await self.network.host.new_stream(peer, [self.protocol])
        try:
            with trio.fail_after(STREAM_TIMEOUT * 6):
                await write_frame(stream, digest)
                data = await read_frame(stream, max_size)
        except trio.TooSlowError:
            self.network.punish(peer, Offence.SLOW, "a blob request timed out")
            raise
        finally:
            with contextlib.suppress(Exception):
                await stream.close()
        if not data:
            return None
        if blake2b_256(data) != digest:
            self.network.punish(peer, Offence.INVALID, "a blob that does not match its hash")
            return None
        return data

    async def run(self) -> None:
        while True:
            await trio.sleep(POLL_SECONDS)
            now = trio.current_time()
            for digest, wish in list(self.wanted.items()):
                if now - wish.since > WANT_SECONDS:
                    self.wanted.pop(digest, None)
                elif now >= wish.next_try:
                    wish.next_try, wish.wait = now + wish.wait, min(wish.wait * 2, RETRY_SECONDS[1])
                    await self._ask_peers(digest, wish.max_size)

    async def _ask_peers(self, digest: bytes, max_size: int) -> None:
        if self.blobs.has(digest):
            self.wanted.pop(digest, None)
            return
        for peer in self.network.peers():
            try:
                data = await self.fetch(peer, digest, max_size)
                if data is not None:
                    self.blobs.put(data)
            except Exception as exc:
                log.debug("blob %s from %s failed: %s", digest.hex()[:12], peer, exc)
                continue
            if data is not None:
                self.wanted.pop(digest, None)
                log.info("fetched blob %s (%d bytes) from %s", digest.hex()[:12], len(data), peer)
                return


@dataclass
class Wish:
    since: float
    next_try: float
    wait: float
    max_size: int = MAX_BLOB_FRAME
