"""Block sync over request-response streams: ask peers for the blocks after
ours, import them, finalize by the newest justification in a batch, and log
progress while behind.

Each peer has a cursor: the next height to ask it for. A batch that attached
moves the cursor past its last block, however short the peer's byte budget
cut it; a batch whose first block does not attach (our best is on a fork the
peer's chain left) moves it back to just above our finalized block, which
every honest peer shares, from where the peer's branch is walked forward
until it is longer than ours. "Caught up" means our best reached the best
any compatible peer reported. Blocks are imported one at a time, in a
worker thread each (`SyncHost.import_block_async`), so a long batch never
stalls gossip or RPC.
"""

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import trio

from consensus.finality import Justification
from node.abc import SyncHost
from node.chain import BadBlock, BlockImportError, UnknownParent
from node.peer_book import Offence
from runtime.codec import CodecError
from runtime.types import Block

log = logging.getLogger("vcoin.sync")
SYNC_BATCH = 128
PROGRESS_SECONDS = 5.0
BATCHES_PER_TURN = 8  # a peer that keeps giving blocks is asked again, up to this, before the others
CAUGHT_UP_SLACK = 1  # a block being gossiped right now does not make us "syncing"


@dataclass
class PeerSync:
    best: int = -1  # the best number this peer last reported
    next: int | None = None  # the next height to ask it for; None: just above our best
    incompatible: bool = False  # its chain does not hold our finalized block
    bodiless: bool = False  # ahead of us, but without the bodies we need (pruned or warp-synced)


@dataclass
class BatchOutcome:
    imported: int = 0
    attached: bool = False  # every block attached to one we know
    last: int | None = None  # the number of the last block that attached
    unknown_parent: bool = False
    bad: str | None = None  # why a block was invalid for anyone


@dataclass
class BlockSync:
    node: SyncHost  # what sync reads of the node and may call on it: see node.abc
    syncing: bool = False
    rounds: int = 0  # completed rounds: before the first, peers' heads are unknown
    peers: dict[str, PeerSync] = field(default_factory=dict)
    _mark: tuple[float, int] | None = None

    def rewind(self) -> None:
        """Gossip showed a chain forking below our best: walk every peer's
        branch again from just above the finalized block."""
        start = self.node.chain.finalized.number + 1
        for cursor in self.peers.values():
            cursor.next = start if cursor.next is None else min(cursor.next, start)

    def target(self) -> int:
        """The best height a compatible peer reported (ours if none did)."""
        heights = [c.best for c in self.peers.values() if not c.incompatible]
        return max([self.node.chain.best.number, *heights])

    async def run(self) -> None:
        network = self.node.network
        assert network is not None
        poll = max(self.node.chain.spec.params.slot_seconds / 4, 0.25)
        while True:
            await network.connect_bootnodes()
            await network.enforce_limits()
            was_syncing = self.syncing
            fetched = await self.round(network.peers())
            self.rounds += 1
            self._update()
            if self.syncing or was_syncing:
                self._progress(fetched)
            if not self.syncing or fetched == 0:
                await trio.sleep(poll)

    async def round(self, peers: list[Any]) -> int:
        """Ask each peer (the highest first) for what it has beyond us."""
        known = {str(p) for p in peers}
        for gone in [key for key in self.peers if key not in known]:
            del self.peers[gone]
        order = sorted(peers, key=lambda p: self.peers.get(str(p), PeerSync()).best, reverse=True)
        fetched = 0
        for peer in order:
            cursor = self.peers.setdefault(str(peer), PeerSync())
            for _ in range(BATCHES_PER_TURN):
                progress = await self._ask(peer, cursor)
                self._update()  # at once: authoring and gossip judgment wait on it
                fetched += progress
                if progress == 0 and cursor.next is None:
                    break
                if cursor.next is None and self.node.chain.best.number >= cursor.best:
                    break
        return fetched

    def _update(self) -> None:
        self.syncing = self.node.chain.best.number + CAUGHT_UP_SLACK < self.target()

    async def _ask(self, peer: Any, cursor: PeerSync) -> int:
        network = self.node.network
        assert network is not None
        chain = self.node.chain
        start = chain.best.number + 1 if cursor.next is None else cursor.next
        answer = await network.request_blocks(peer, start, SYNC_BATCH)
        if answer is None:
            return 0  # it hung up or stalled: ask again from the same height later
        cursor.best = answer.best
        if not answer.items:
            cursor.next = None  # nothing there: the peer is not ahead of `start`, or lacks its bodies
            if answer.best >= start and not cursor.bodiless:
                cursor.bodiless = True
                log.warning(
                    "peer %s is at #%d but holds no block body from #%d (it prunes bodies or warp-synced): "
                    "sync from an archive peer, or start a fresh node with --sync warp",
                    peer, answer.best, start,
                )  # fmt: skip
            await self._finalize_by(answer.proof)
            return 0
        outcome = await self.import_batch(peer, answer.items)
        await self._finalize_by(answer.proof)
        if outcome.bad is not None:
            network.punish(peer, Offence.INVALID, f"an invalid block in sync ({outcome.bad})")
            cursor.next = None
        elif outcome.unknown_parent:
            floor = chain.finalized.number + 1
            if start <= floor:
                # Its chain does not hold our finalized block: nothing to take from it.
                if not cursor.incompatible:
                    log.warning("peer %s is on a chain without our finalized block #%d", peer, floor - 1)
                cursor.incompatible, cursor.next = True, None
            else:
                log.info("our best block is on a fork %s left: searching from #%d", peer, floor)
                cursor.next = floor
        elif outcome.last is not None:
            cursor.incompatible = False
            following = outcome.last + 1  # however short the batch: go on from its end
            cursor.next = None if following > answer.best or following == chain.best.number + 1 else following
        return outcome.imported

    async def _finalize_by(self, proof: bytes | None) -> None:
        """A peer's latest justification, when it finalizes a block we have."""
        if proof is None:
            return
        try:
            just = Justification.decode(proof)
        except CodecError:
            return  # checked like any justification: not worth a ban on its own
        node = self.node
        if just.source.number <= node.chain.finalized.number or not node.chain.store.has_block(
            just.source.hash
        ):
            return
        async with node.chain_lock:
            if node.finality.on_justification(just):
                node.after_batch()

    async def import_batch(self, peer: Any, items: list[tuple[Block, bytes | None]]) -> BatchOutcome:
        """Import a batch in order, yielding to other tasks between blocks."""
        node = self.node
        outcome = BatchOutcome(attached=True)
        proof: Justification | None = None
        for block, justification in items:
            if not node.chain.store.has_block(block.hash):
                try:
                    await node.import_block_async(block, vote=False)
                except UnknownParent:
                    outcome.unknown_parent = outcome.last is None
                    outcome.attached = False
                    break
                except BadBlock as exc:
                    outcome.bad, outcome.attached = str(exc), False
                    break
                except BlockImportError as exc:
                    log.info("refused block #%d from %s: %s", block.header.number, peer, exc)
                    outcome.attached = False
                    break
                outcome.imported += 1
            outcome.last = block.header.number
            if justification is not None:
                try:
                    proof = Justification.decode(justification)
                except CodecError:
                    outcome.bad = "an undecodable justification"
                    break
        async with node.chain_lock:  # finality moves only between imports
            if outcome.imported:
                node.chain.store.flush()  # the batch was written without an fsync per block
            # Only the newest justification of a batch matters: it finalizes all below it.
            if (
                proof is not None
                and proof.source.number > node.chain.finalized.number
                and not node.finality.on_justification(proof)
            ):
                log.debug("a synced justification for #%d did not verify", proof.source.number)
            if outcome.imported:
                node.after_batch()
        return outcome

    def _progress(self, fetched: int) -> None:
        """Log progress every few seconds while syncing, and once when done."""
        now, best = time.monotonic(), self.node.chain.best.number
        if self._mark is None:
            self._mark = (now, best - fetched)
        since, from_number = self._mark
        if now - since >= PROGRESS_SECONDS or not self.syncing:
            rate = (best - from_number) / max(now - since, 1e-6)
            if self.syncing:
                log.info("Syncing #%d of #%d, %.0f blocks/s", best, self.target(), rate)
            else:
                log.info("Caught up at #%d, %.0f blocks/s", best, rate)
            self._mark = (now, best) if self.syncing else None
