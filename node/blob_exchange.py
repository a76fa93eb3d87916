"""Fetching blobs (large job results, inputs referenced by hash) from peers.

A request-response protocol `/vcoin/<genesis>/blob/1`: the request is a
32-byte hash, the answer the blob or nothing. Blobs are fetched on demand:
an RPC asking for a result this node lacks, or a worker missing a job's
input, marks the hash wanted, and a background task asks each peer in turn.
A blob that does not hash to what was asked for gets its sender banned.
"""

import contextlib
import logging
import time
from typing import Any

import trio
from libp2p.custom_types import TProtocol

from node.p2p import STREAM_TIMEOUT, Network, read_frame, write_frame
from offchain.blobs import BlobStore
from runtime.codec import blake2b_256

log = logging.getLogger("vcoin.blobs")
MAX_BLOB_FRAME = 64 * 1024 * 1024
WANT_SECONDS = 600.0
POLL_SECONDS = 0.5


class BlobExchange:
    def __init__(self, network: Network, blobs: BlobStore, genesis_hash: bytes) -> None:
        self.network = network
        self.blobs = blobs
        self.protocol = TProtocol(f"/vcoin/{genesis_hash[:8].hex()}/blob/1")
        self.wanted: dict[bytes, float] = {}
        network.host.set_stream_handler(self.protocol, self._serve)

    def want(self, digest: bytes) -> None:
        if not self.blobs.has(digest):
            self.wanted.setdefault(digest, time.monotonic())

    async def _serve(self, stream: Any) -> None:
        peer = stream.muxed_conn.peer_id
        try:
            if self.network.is_banned(peer):
                return
            with trio.fail_after(STREAM_TIMEOUT):
                digest = await read_frame(stream, 32)
                if len(digest) != 32:
                    raise ValueError("a blob request is a 32-byte hash")
                data = self.blobs.get(digest) or b""
            with trio.fail_after(STREAM_TIMEOUT * 6):
                await write_frame(stream, data if len(data) <= MAX_BLOB_FRAME else b"")
        except Exception as exc:
            self.network.punish(peer, 100, f"bad blob request ({exc})")
        finally:
            with contextlib.suppress(Exception):
                await stream.close()

    async def fetch(self, peer: Any, digest: bytes) -> bytes | None:
        with trio.fail_after(STREAM_TIMEOUT):
            stream = await self.network.host.new_stream(peer, [self.protocol])
        try:
            with trio.fail_after(STREAM_TIMEOUT * 6):
                await write_frame(stream, digest)
                data = await read_frame(stream, MAX_BLOB_FRAME)
        finally:
            with contextlib.suppress(Exception):
                await stream.close()
        if not data:
            return None
        if blake2b_256(data) != digest:
            self.network.punish(peer, 100, "a blob that does not match its hash")
            return None
        return data

    async def run(self) -> None:
        while True:
            await trio.sleep(POLL_SECONDS)
            now = time.monotonic()
            for digest, since in list(self.wanted.items()):
                if self.blobs.has(digest) or now - since > WANT_SECONDS:
                    self.wanted.pop(digest, None)
                    continue
                for peer in self.network.peers():
                    try:
                        data = await self.fetch(peer, digest)
                    except Exception as exc:
                        log.debug("blob %s from %s failed: %s", digest.hex()[:12], peer, exc)
                        continue
                    if data is not None:
                        self.blobs.put(data)
                        self.wanted.pop(digest, None)
                        log.info("fetched blob %s (%d bytes) from %s", digest.hex()[:12], len(data), peer)
                        break
