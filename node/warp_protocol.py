"""The state protocol `/vcoin/<genesis8>/state/1`: what warp sync asks of
peers and what every node serves.

One request per stream, msgpack, each frame size-limited both ways:

- `[0]`: the finalized target: `[header, justification]` of the server's
  finalized block (encoded), or `[]` when it has no justification for it;
- `[1, root, max_leaves, [hash, ...]]`: state chunks under `root` (see
  `runtime.state_chunks`): `["", [answer, ...]]`, answering a prefix of the
  hashes asked for, within a byte budget and a budget of node visits (the
  requester asks again for the rest); `["unknown root", []]` when the
  server does not hold that state; `["busy", []]` when it is answering
  another request of the same peer;
- `[2, start, count]`: canonical headers `start..` (encoded), as many as it
  has in a row, at most `MAX_HEADERS`.

Serving is bounded: a request names at most `MAX_HASHES` distinct
subtrees, each answered within `max_leaves` (capped), the answer within
`ANSWER_BUDGET` bytes and `VISIT_BUDGET` node visits for all its hashes
together (tens of milliseconds of CPU at most); the work runs in a worker
thread, at most `SERVING` requests at a time and one per peer, so no peer
holds every slot while honest requesters time out. A node pruned while it
is walked is answered missing. A malformed request costs its sender as
garbage; a malformed answer costs the server as an invalid sync response; a
stall costs a little (slow).
"""

import logging
import threading
from typing import Any

import msgpack
import trio
from libp2p.custom_types import TProtocol

from node.p2p import STREAM_TIMEOUT, Garbage, Network, read_frame, write_frame
from node.peer_book import Offence
from node.storage import FINALIZED, ChainStore
from runtime.merkle import TrieDB
from runtime.state_chunks import MAX_LEAVES, Budget, answer_within

log = logging.getLogger("vcoin.warp")
TARGET, NODES, HEADERS = 0, 1, 2
UNKNOWN_ROOT = "unknown root"
BUSY = "busy"
MAX_REQUEST = 64 * 1024
MAX_HASHES = 512
MAX_HEADERS = 512
ANSWER_BUDGET = 2 * 1024 * 1024  # bytes of leaves in one answer, about
# Node visits one chunk request may cost, all its hashes together: about 8
# answers of `MAX_LEAVES` leaves, at most ~0.1 s of CPU read from disk (a few
# microseconds a node), far less from the cache.
VISIT_BUDGET = 16 * 1024
MAX_ANSWER = 16 * 1024 * 1024  # a lone leaf may exceed the budget: never this
CHUNK_TIMEOUT = 30.0  # a busy server walks up to ANSWER_BUDGET of leaves
SERVING = 2  # requests answered at once: the rest wait their turn
_SERVE_CACHE_BYTES = 16 * 1024 * 1024


class BadRequest(Garbage):
    """A request no honest node sends."""


def parse_request(frame: bytes) -> list[Any]:
    try:
        request = msgpack.unpackb(frame, raw=False)
    except Exception as exc:
        raise BadRequest(f"undecodable: {exc}") from None
    if type(request) is not list or not request or type(request[0]) is not int:
        raise BadRequest("a state request is [kind, ...]")
    kind = request[0]
    if kind == TARGET and len(request) == 1:
        return request
    if kind == NODES and len(request) == 4 and _chunk_request(*request[1:]):
        return request
    if (
        kind == HEADERS
        and len(request) == 3
        and all(type(x) is int and 0 <= x < 1 << 63 for x in request[1:])
    ):
        return request
    raise BadRequest(f"a malformed state request of kind {kind}")


def _chunk_request(root: Any, max_leaves: Any, hashes: Any) -> bool:
    return (
        type(root) is bytes and len(root) == 32 and type(max_leaves) is int and max_leaves >= 1
        and type(hashes) is list and len(hashes) <= MAX_HASHES
        and all(type(h) is bytes and len(h) == 32 for h in hashes)
        and len(set(hashes)) == len(hashes)  # a subtree asked for twice: no honest requester
    )  # fmt: skip


class StateServer:
    """Answers the state protocol from this node's store (which never
    changes under a running node, unlike its chain: see node.warp)."""

    def __init__(self, store: ChainStore) -> None:
        self.store = store
        # `SERVING` worker threads read through it at once: the cache locks.
        self.trie = TrieDB(store.nodes, cache_bytes=_SERVE_CACHE_BYTES, lock=threading.Lock())
        self.limiter = trio.CapacityLimiter(SERVING)
        self.serving: set[str] = set()  # peers with a request being answered

    async def respond(self, request: list[Any], peer: Any = None) -> Any:
        """The answer; `[BUSY, []]` while another request of `peer` is
        answered or waits its turn (one at a time per peer)."""
        key = str(peer)
        if peer is not None and key in self.serving:
            return [BUSY, []]
        self.serving.add(key)
        try:
            async with self.limiter:
                return await trio.to_thread.run_sync(self.answer, request)
        finally:
            self.serving.discard(key)

    def answer(self, request: list[Any]) -> Any:
        kind = request[0]
        if kind == TARGET:
            return self._target()
        if kind == NODES:
            return self._nodes(request[1], request[2], request[3])
        return self._headers(request[1], request[2])

    def _target(self) -> list[bytes]:
        final = self.store.meta(FINALIZED)
        header = None if final is None else self.store.header(final)
        proof = None if final is None else self.store.justification(final)
        if header is None or proof is None:
            return []
        return [header.encode(), proof]

    def _nodes(self, root: bytes, max_leaves: int, hashes: list[bytes]) -> list[Any]:
        if self.store.nodes.get(root) is None:
            return [UNKNOWN_ROOT, []]
        answers: list[Any] = []
        size = 0
        budget = Budget(VISIT_BUDGET)
        for node_hash in hashes:
            if budget.visits <= 0:
                break  # the rest next time
            found = answer_within(self.trie, node_hash, min(max_leaves, MAX_LEAVES), ANSWER_BUDGET, budget)
            if found is None:
                break  # too big for what is left of the budget: next time
            wire, cost = found
            if answers and size + cost > ANSWER_BUDGET:
                break  # the rest next time
            answers.append(wire)
            size += cost
        return ["", answers]

    def _headers(self, start: int, count: int) -> list[bytes]:
        found: list[bytes] = []
        for number in range(start, start + min(count, MAX_HEADERS)):
            block_hash = self.store.hash_at(number)
            header = None if block_hash is None else self.store.header(block_hash)
            if header is None:
                break
            found.append(header.encode())
        return found


class StateProtocol:
    """Serving and asking over one network."""

    def __init__(self, network: Network, genesis_hash: bytes, store: ChainStore) -> None:
        self.network = network
        self.server = StateServer(store)
        self.protocol = TProtocol(f"/vcoin/{genesis_hash[:8].hex()}/state/1")
        self.bytes_in = 0  # answers received, for progress and the bench
        network.set_stream_handler(self.protocol, self._serve)

    async def _serve(self, stream: Any) -> None:
        async def answer(stream: Any, peer: Any) -> None:
            with trio.fail_after(STREAM_TIMEOUT):
                request = parse_request(await read_frame(stream, MAX_REQUEST))
            with trio.fail_after(CHUNK_TIMEOUT):
                result = await self.server.respond(request, peer)
                await write_frame(stream, msgpack.packb(result, use_bin_type=True))

        await self.network.serve_exchange(stream, "state", answer)

    async def ask(self, peer: Any, request: list[Any], timeout: float = STREAM_TIMEOUT) -> Any:
        """The decoded answer; None when the peer hung up, stalled (it costs
        it a little) or answered what no honest node sends (much)."""
        payload = await self.network.exchange(
            peer, self.protocol, msgpack.packb(request, use_bin_type=True), MAX_ANSWER, "state", timeout
        )
        if payload is None:
            return None
        self.bytes_in += len(payload)
        try:
            return msgpack.unpackb(payload, raw=False)
        except Exception as exc:
            self.network.punish(peer, Offence.INVALID_SYNC_RESPONSE, f"an undecodable state answer ({exc})")
            return None
