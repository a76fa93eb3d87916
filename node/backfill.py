"""Header backfill: a warp-synced node fetches the headers below its warp
block, newest first, down to genesis, in the background once it follows
the head. Only headers and the number index are kept, never bodies (RPC
answers a clear error for those: node.rpc_bodies).

Each batch is checked link by link: its top header must hash to the parent
hash of the lowest header held, each header below to the parent hash of the
one above it, and header #1 must name our genesis as its parent; so the
warp block is proven to descend from our genesis. Progress (`BACKFILL`: the
next number and the hash it must have) is written with each batch.
"""

import logging
import time
from typing import Any

import msgpack
import trio

from node.abc import ChainReader
from node.p2p import Network
from node.peer_book import Offence
from node.warp_protocol import BUSY, HEADERS, MAX_HEADERS, StateProtocol
from node.warp_store import BACKFILL
from runtime.codec import CodecError, decode
from runtime.types import Header

log = logging.getLogger("vcoin.warp")
POLL_SECONDS = 1.0
PROGRESS_SECONDS = 5.0


class Backfill:
    def __init__(self, node: ChainReader, network: Network, protocol: StateProtocol) -> None:
        self.node = node
        self.network = network
        self.protocol = protocol

    def pending(self) -> tuple[int, bytes] | None:
        raw = self.node.chain.store.meta(BACKFILL)
        if not raw:
            return None
        number, expected = msgpack.unpackb(raw)
        return number, expected

    async def run(self) -> None:
        pending = self.pending()
        if pending is None:
            return
        number, expected = pending
        store = self.node.chain.store
        started, top, last_log = time.monotonic(), number, time.monotonic()
        log.info("Backfill: fetching the headers below #%d down to genesis", number + 1)
        while number > 0:
            low = max(1, number - MAX_HEADERS + 1)
            headers = await self._fetch(low, number, expected)
            number, expected = low - 1, headers[0].parent_hash
            done = msgpack.packb([number, expected]) if number > 0 else b""
            await trio.to_thread.run_sync(store.put_headers, headers, {BACKFILL: done})
            if time.monotonic() - last_log >= PROGRESS_SECONDS and number > 0:
                last_log = time.monotonic()
                rate = (top - number) / (last_log - started)
                log.info("Backfill: headers down to #%d, %.0f headers/s", number + 1, rate)
        log.info("Backfill: complete, every header down to genesis (%.1f s)", time.monotonic() - started)

    async def _fetch(self, low: int, high: int, expected: bytes) -> list[Header]:
        """Headers `low..high` from whichever peer has them all, linked."""
        while True:
            for peer in self.network.peers():
                wire = await self.protocol.ask(peer, [HEADERS, low, high - low + 1])
                headers = self._check(peer, wire, low, high, expected)
                if headers is not None:
                    return headers
            await trio.sleep(POLL_SECONDS)

    def _check(self, peer: Any, wire: Any, low: int, high: int, expected: bytes) -> list[Header] | None:
        if wire is None or wire == [BUSY, []]:
            return None  # (busy: an earlier request of ours, given up on, is still being answered)
        try:
            if type(wire) is not list or not all(type(x) is bytes for x in wire):
                raise CodecError("headers are a list of encoded headers")
            headers = [Header.from_wire(decode(x)) for x in wire]
        except CodecError as exc:
            self.network.punish(peer, Offence.INVALID_SYNC_RESPONSE, f"malformed headers ({exc})")
            return None
        if len(headers) != high - low + 1:
            return None  # it lacks some (a warp-synced peer still backfilling): ask another
        genesis = self.node.chain.genesis.hash
        above = expected
        for number, header in zip(range(high, low - 1, -1), reversed(headers), strict=True):
            if header.number != number or header.hash != above:
                self.network.punish(peer, Offence.INVALID_SYNC_RESPONSE, "headers that do not link up")
                return None
            above = header.parent_hash
        if low == 1 and above != genesis:
            log.error("Backfill: #1 from %s does not descend from our genesis: refused", peer)
            self.network.punish(peer, Offence.INVALID, "a chain that does not descend from our genesis")
            return None
        return headers
