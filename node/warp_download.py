"""One warp download: the frontier of missing subtrees (node.warp_store),
fetched by a few concurrent requests spread over peers, each answer proven
(runtime.state_chunks) and stored with the frontier it moves, progress in
the log.

Peers are picked least busy first, at most `PER_PEER` request each (a
server answers one request per peer at a time). A peer that stalls, is busy
or lacks the state rests a while; one that sends a bad chunk is punished
and never asked again by this download; its chunk goes back to the frontier
for another. `run` gives up (`failure` says why, and node.warp refuses the
target) when peers keep saying they no longer hold the root (they pruned
it), when nothing progressed for `IDLE_SECONDS` at all, when the state
proves forged (`ForgedState`: a node at two positions, equal children, a
leaf off its path; met in an answer or in a node held here), or when it
grows past `MAX_KEYS`/`MAX_BYTES`/`MAX_SUBTREES`, far beyond any real
state. What was fetched stays and is found locally the next time
(`_expand_local`, with the same checks as a fetched node).
"""

import logging
import threading
import time
from typing import Any

import trio

from node.node_store import NODE_PREFIX, raw_node
from node.peer_book import Offence
from node.warp_protocol import BUSY, CHUNK_TIMEOUT, NODES, UNKNOWN_ROOT, StateProtocol
from node.warp_store import Progress, Target, frontier, progress, save_batch
from runtime.state_chunks import MAX_LEAVES, BadChunk, ForgedState, Subtree, verify, verify_local

log = logging.getLogger("vcoin.warp")
WORKERS = 4
PER_PEER = 1  # the most a server answers for one peer at a time
BATCH = 128  # subtrees asked for in one request (answered within the server's byte budget)
REST_SECONDS = 5.0  # a peer that stalled or lacks the state is left alone this long
STALL_SECONDS = 10.0  # no progress this long, peers lacking the root (pruned): choose another target
IDLE_SECONDS = 4 * CHUNK_TIMEOUT  # no progress this long at all (nobody answers): choose another target
PROGRESS_SECONDS = 5.0
# Far beyond any real state (a radix-16 trie of n hashed keys has about
# n + n/15 nodes): a forged root that unfolds without end stops here, logged.
MAX_KEYS = 1 << 30
MAX_BYTES = 1 << 40
MAX_SUBTREES = 2 * MAX_KEYS


class Download:
    def __init__(self, node: Any, protocol: StateProtocol, target: Target) -> None:
        self.node = node
        self.network = node.network
        self.protocol = protocol
        self.target = target
        self.store = node.chain.store
        self.frontier: list[Subtree] = frontier(self.store)
        self.totals: Progress = progress(self.store)
        # What the database says: written by worker threads, one at a time,
        # so the persisted counts never go back however their writes interleave.
        self._stored = self.totals
        self._write_lock = threading.Lock()
        self.remaining = sum(16.0**-s.depth for s in self.frontier)  # share of the path space missing
        self.busy = 0
        self.per_peer: dict[str, int] = {}
        self.banned: set[str] = set()
        self.resting: dict[str, float] = {}
        self.changed = trio.Event()
        self.finished = trio.Event()
        self.last_progress = trio.current_time()
        self.lacking_root = False
        self.failure = ""  # why `run` gave up
        self.forged = False  # it gave up on a state no honest server holds (not a stall)
        self.subtrees = 0  # answered this run, fetched or found here
        self._turn = 0
        self._start = (time.monotonic(), self.totals.keys, 1.0 - self.remaining)

    async def run(self) -> bool:
        """True once the state is complete; False when it stalled, proved
        forged or grew past the caps (`failure` says which)."""
        number = self.target.header.number
        if self.totals.chunks:
            log.info(
                "Warp sync: resuming #%d at %d keys (%.1f%% of the state), %d subtrees left",
                number, self.totals.keys, 100 * (1 - self.remaining), len(self.frontier),
            )  # fmt: skip
        else:
            log.info("Warp sync: downloading the state of #%d", number)
        async with trio.open_nursery() as nursery:
            for _ in range(WORKERS):
                nursery.start_soon(self._worker)
            stalled = await self._watch()
            nursery.cancel_scope.cancel()
        if stalled:
            return False
        seconds = time.monotonic() - self._start[0]
        log.info(
            "Warp sync: the state of #%d is complete: %d keys fetched, %.1f MiB in %d chunks "
            "(%.1f MiB received this run) in %.1f s, %.0f keys/s",
            number, self.totals.keys, self.totals.bytes / 2**20, self.totals.chunks,
            self.protocol.bytes_in / 2**20, seconds, (self.totals.keys - self._start[1]) / max(seconds, 1e-6),
        )  # fmt: skip
        return True

    async def _watch(self) -> bool:
        """Log progress, keep peers connected; True when the download stalled."""
        last_log = trio.current_time()
        while not self.finished.is_set():
            with trio.move_on_after(1.0):
                await self.finished.wait()
            if self.failure:
                return True
            await self.network.connect_bootnodes()
            now = trio.current_time()
            if now - last_log >= PROGRESS_SECONDS and not self.finished.is_set():
                last_log = now
                self._log_progress()
            idle = now - self.last_progress
            if (self.lacking_root and idle > STALL_SECONDS) or idle > IDLE_SECONDS:
                self.failure = f"no progress for {idle:.0f} s: no peer serves its state"
                return True
        return bool(self.failure)

    def _fail(self, reason: str, forged: bool = True) -> None:
        if not self.failure:
            self.failure = reason
            self.forged = forged
            log.error("Warp sync: the state of #%d is refused: %s", self.target.header.number, reason)
        self.finished.set()
        self._notify()

    def _log_progress(self) -> None:
        since, keys, done = self._start
        seconds = time.monotonic() - since
        gained = (1.0 - self.remaining) - done
        eta = seconds * self.remaining / gained if gained > 0 else float("nan")
        log.info(
            "Warp sync #%d: %.1f%% of the state, %d keys (%.1f MiB) in %d chunks, %.0f keys/s, ETA %.0f s",
            self.target.header.number, 100 * (1 - self.remaining), self.totals.keys,
            self.totals.bytes / 2**20, self.totals.chunks, (self.totals.keys - keys) / max(seconds, 1e-6), eta,
        )  # fmt: skip

    def _notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def _worker(self) -> None:
        while not self.failure:
            if not self.frontier:
                if self.busy == 0:
                    self.finished.set()
                    self._notify()
                    return
                await self.changed.wait()
                continue
            batch = self.frontier[-BATCH:]
            del self.frontier[-BATCH:]
            self.busy += 1
            try:
                batch = await self._through(batch)
            finally:
                self.busy -= 1
                self.frontier.extend(batch)
                self._notify()

    async def _through(self, batch: list[Subtree]) -> list[Subtree]:
        """Fetch `batch`; what is left to fetch again."""
        try:
            batch, answered, opened = await trio.to_thread.run_sync(self._expand_local, batch)
        except ForgedState as exc:
            self._fail(f"{exc}, in a node held here")
            return batch
        self._account(answered, opened, 0, 0, chunks=0)
        if not batch:
            return batch
        peer = self._pick()
        if peer is None:
            with trio.move_on_after(0.5):
                await self.changed.wait()
            return batch
        key = str(peer)
        self.per_peer[key] = self.per_peer.get(key, 0) + 1
        try:
            return await self._fetch(peer, batch)
        finally:
            self.per_peer[key] -= 1

    def _pick(self) -> Any:
        now = trio.current_time()
        free = [
            p for p in self.network.peers()
            if str(p) not in self.banned and self.resting.get(str(p), 0.0) <= now
            and self.per_peer.get(str(p), 0) < PER_PEER and not self.network.is_banned(p)
        ]  # fmt: skip
        if not free:
            return None
        least = min(self.per_peer.get(str(p), 0) for p in free)
        free = [p for p in free if self.per_peer.get(str(p), 0) == least]
        self._turn += 1
        return free[self._turn % len(free)]

    def _rest(self, peer: Any) -> None:
        self.resting[str(peer)] = trio.current_time() + REST_SECONDS

    async def _fetch(self, peer: Any, batch: list[Subtree]) -> list[Subtree]:
        request = [NODES, self.target.header.state_root, MAX_LEAVES, [s.hash for s in batch]]
        wire = await self.protocol.ask(peer, request, CHUNK_TIMEOUT)
        if wire is None:
            self._rest(peer)
            return batch
        shaped = type(wire) is list and len(wire) == 2 and type(wire[0]) is str and type(wire[1]) is list
        if not shaped or len(wire[1]) > len(batch) or (wire[0] == "" and not wire[1]):
            self.network.punish(peer, Offence.INVALID_SYNC_RESPONSE, "a malformed state answer")
            self.banned.add(str(peer))
            return batch
        if wire[0] == UNKNOWN_ROOT:
            self._rest(peer)
            self.lacking_root = True
            return batch
        if wire[0] == BUSY:
            self._rest(peer)  # it answers another request of ours (an earlier one we gave up on)
            return batch
        answers = wire[1]
        try:
            proven = await trio.to_thread.run_sync(self._prove_and_store, batch[: len(answers)], answers)
        except ForgedState as exc:
            self.network.punish(peer, Offence.INVALID, f"a forged state ({exc})")
            self.banned.add(str(peer))
            self._fail(f"{exc}, in an answer from {peer}")
            return batch
        except BadChunk as exc:
            self.network.punish(peer, Offence.INVALID, f"a bad state chunk ({exc})")
            log.warning("Warp sync: bad state chunk from %s (%s); asking another peer", peer, exc)
            self.banned.add(str(peer))
            return batch
        missing: list[Subtree]
        missing, answered, opened, keys, size = proven
        self._account(answered, opened, keys, size)
        if missing:
            self._rest(peer)  # it pruned part of the state meanwhile
            self.lacking_root = True
        if answered:
            self.last_progress = trio.current_time()
            self.lacking_root = False
        return missing + batch[len(answers) :]

    def _prove_and_store(self, batch: list[Subtree], answers: list[Any]) -> tuple[Any, ...]:
        """(worker thread) Verify every answer, then store them in one write:
        (missing, answered, opened, keys, bytes)."""
        nodes: dict[bytes, bytes] = {}
        opened: list[Subtree] = []
        answered: list[Subtree] = []
        missing: list[Subtree] = []
        keys = size = 0
        for subtree, wire in zip(batch, answers, strict=True):
            proven = verify(subtree, wire)
            if proven is None:
                missing.append(subtree)
                continue
            nodes.update(proven.nodes)
            opened += proven.children
            answered.append(subtree)
            keys += proven.leaves
            size += _answer_bytes(wire)
        with self._write_lock:
            stored = self._stored
            stored = Progress(stored.keys + keys, stored.bytes + size, stored.chunks + 1)
            save_batch(self.store, nodes, answered, opened, stored)
            self._stored = stored
        return missing, answered, opened, keys, size

    def _account(
        self, answered: list[Subtree], opened: list[Subtree], keys: int, size: int, chunks: int = 1
    ) -> None:
        """(event loop) What a stored batch changed: only the event loop
        touches the frontier, so a worker's batch is never split by another."""
        self.totals = Progress(self.totals.keys + keys, self.totals.bytes + size, self.totals.chunks + chunks)
        self.remaining += sum(16.0**-s.depth for s in opened) - sum(16.0**-s.depth for s in answered)
        self.subtrees += len(answered)
        if answered:
            self.last_progress = trio.current_time()
        self.frontier.extend(opened)
        for name, value, cap in (
            ("keys", self.totals.keys, MAX_KEYS),
            ("bytes", self.totals.bytes, MAX_BYTES),
            ("subtrees", self.subtrees, MAX_SUBTREES),
        ):
            if value > cap:
                self._fail(f"over {cap} {name}, far more than any real state holds")

    def _expand_local(self, batch: list[Subtree]) -> tuple[list[Subtree], list[Subtree], list[Subtree]]:
        """(worker thread) Subtrees whose node is already here (the genesis
        state, an earlier target) open locally, one level at a time, checked
        like a fetched node (`ForgedState` if one could not be there); the
        rest are to fetch."""
        get = self.store.db.get
        fetch: list[Subtree] = []
        answered: list[Subtree] = []
        opened: list[Subtree] = []
        for subtree in batch:
            raw = raw_node(get(NODE_PREFIX + subtree.hash))
            if raw is None:
                fetch.append(subtree)
                continue
            answered.append(subtree)
            opened += verify_local(subtree, raw).children
        if answered:
            with self._write_lock:
                save_batch(self.store, {}, answered, opened, self._stored)
        return fetch, answered, opened


def _answer_bytes(wire: Any) -> int:
    payload = wire[1]
    return len(payload) if type(payload) is bytes else sum(len(x) for x in payload)
