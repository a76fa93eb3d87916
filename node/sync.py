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
            log.info("our best block is on a fork the peers left: searching from #%d", self.rewind_to)

    async def run(self) -> None:
        network = self.node.network
        assert network is not None
        poll = max(self.node.chain.spec.params.slot_seconds / 4, 0.25)
        while True:
            await network.connect_bootnodes()
            await network.enforce_limits()
            start = self.rewind_to if self.rewind_to is not None else self.node.chain.best.number + 1
            fetched = received = 0
            attached = False
            for peer in network.peers():
                try:
                    items = await network.request_blocks(peer, start, SYNC_BATCH)
                except Exception as exc:
                    log.info("sync from %s failed: %s", peer, type(exc).__name__)
                    continue
                received = max(received, len(items))
                count, whole = self.import_batch(peer, items)
                fetched += count
                attached = attached or (whole and bool(items))
            if self.rewind_to is not None:
                # Walk forward a batch at a time; stop once the peers' chain attached.
                if received == SYNC_BATCH:
                    self.rewind_to = start + received
                elif attached:
                    self.rewind_to = None
            was_syncing, self.syncing = self.syncing, fetched >= SYNC_BATCH or self.rewind_to is not None
            if self.syncing or was_syncing:
                self._progress(fetched)
            if not self.syncing or fetched == 0:
                await trio.sleep(poll)

    def import_batch(self, peer: Any, items: list[tuple[Block, bytes | None]]) -> tuple[int, bool]:
        """(blocks imported, whether the whole batch attached to known blocks)."""
        node = self.node
        imported = 0
        whole = True
        proof: Justification | None = None
        for block, justification in items:
            if not node.chain.store.has_block(block.hash):
                try:
                    node.import_block(block, vote=False)
                except UnknownParent:
                    log.debug("block #%d from %s does not attach (start #%s)", block.header.number, peer,
                              items[0][0].header.number)  # fmt: skip
                    self.rewind()
                    whole = False
                    break
                except BlockImportError as exc:
                    log.warning("refused block #%d from %s: %s", block.header.number, peer, exc)
                    whole = False
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
        return imported, whole

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
