"""Block sync over request-response streams: ask every peer for the blocks
after our best one, import them, finalize by the newest justification in a
batch, and log progress while far behind.

When a peer's blocks do not attach to ours (our best is on a fork the net
left), sync rewinds to just above the finalized block, which every honest
peer shares, and walks forward from there until the blocks attach again.
"""

import logging
import time
from typing import TYPE_CHECKING, Any

import trio

from consensus.finality import Justification
from node.chain import BlockImportError, UnknownParent
from runtime.codec import CodecError
from runtime.types import Block

if TYPE_CHECKING:
    from node.service import Node

log = logging.getLogger("vcoin.sync")
SYNC_BATCH = 128
PROGRESS_SECONDS = 5.0


class BlockSync:
    def __init__(self, node: "Node") -> None:
        self.node = node
        self.syncing = False
        self.rewind_to: int | None = None  # next height to ask for while finding a fork's base
        self._mark: tuple[float, int] | None = None

    def rewind(self) -> None:
        """Our best block does not lead to the peers' chain: search from finality."""
        if self.rewind_to is None:
            self.rewind_to = self.node.chain.finalized.number + 1

    async def run(self) -> None:
        network = self.node.network
        assert network is not None
        poll = max(self.node.chain.spec.params.slot_seconds / 4, 0.25)
        while True:
            await network.connect_bootnodes()
            await network.enforce_limits()
            start = self.rewind_to if self.rewind_to is not None else self.node.chain.best.number + 1
            fetched = received = 0
            for peer in network.peers():
                try:
                    items = await network.request_blocks(peer, start, SYNC_BATCH)
                except Exception as exc:
                    log.debug("sync from %s failed: %s", peer, exc)
                    continue
                received = max(received, len(items))
                fetched += self.import_batch(peer, items)
            if self.rewind_to is not None:
                # Walk forward until a batch attaches (or the peers run out).
                self.rewind_to = start + received if received == SYNC_BATCH else None
            was_syncing, self.syncing = self.syncing, fetched >= SYNC_BATCH or self.rewind_to is not None
            if self.syncing or was_syncing:
                self._progress(fetched)
            if not self.syncing:
                await trio.sleep(poll)

    def import_batch(self, peer: Any, items: list[tuple[Block, bytes | None]]) -> int:
        node = self.node
        imported = 0
        proof: Justification | None = None
        for block, justification in items:
            if not node.chain.store.has_block(block.hash):
                try:
                    node.import_block(block, vote=False)
                except UnknownParent:
                    self.rewind()
                    break
                except BlockImportError as exc:
                    log.warning("refused block #%d from %s: %s", block.header.number, peer, exc)
                    break
                imported += 1
            if justification is not None:
                try:
                    proof = Justification.decode(justification)
                except CodecError:
                    assert node.network is not None
                    node.network.punish(peer, 100, "undecodable justification")
                    break
        # Only the newest justification of a batch matters: it finalizes all below it.
        finalized = node.chain.finalized.number
        if (
            proof is not None
            and proof.source.number > finalized
            and not node.finality.on_justification(proof)
        ):
            log.debug("a synced justification for #%d did not verify", proof.source.number)
        if imported:
            node.after_batch()
        return imported

    def _progress(self, fetched: int) -> None:
        """Log progress every few seconds while syncing, and once when done."""
        now, best = time.monotonic(), self.node.chain.best.number
        if self._mark is None:
            self._mark = (now, best - fetched)
        since, from_number = self._mark
        if now - since >= PROGRESS_SECONDS or not self.syncing:
            rate = (best - from_number) / max(now - since, 1e-6)
            log.info("%s #%d, %.0f blocks/s", "Syncing," if self.syncing else "Caught up at", best, rate)
            self._mark = (now, best) if self.syncing else None
