"""Block pruning (`--blocks-pruning N`): keep the bodies of the last N
finalized blocks, delete older ones.

Substrate's `--blocks-pruning`: headers, the number index, justifications
and the transaction index stay (a light client, a warp-syncing peer and
"where did my transaction land" still work); the bodies, most of a chain's
disk once state pruning runs, go. A node that prunes bodies cannot serve
full sync below its floor: peers warp-sync or find an archive peer (the
sync server answers as far as it holds, as a warp-synced node's does).

Crash safety: each height goes in one write with the `blocks_pruned_through`
mark, so a kill midway leaves every height either whole or done, and the
work resumes from the mark. Bodies of forks below finality are not indexed
by height; they stay (rare, small, never read).
"""

import logging
import time

from node.storage import WARP_FROM, ChainStore

log = logging.getLogger("vcoin.pruning")
BLOCKS_PRUNED_THROUGH = b"blocks_pruned_through"  # the highest number whose body is gone (8 bytes)
# heights pruned per finalized block at most (this runs where finality
# lands, the event loop among them): a node that turns pruning on over a
# long archive catches up over the next blocks, never stalling one
HEIGHTS_PER_CALL = 64
# the fewest bodies `--blocks-pruning` keeps: a warp-syncing peer fetches the
# finalized block's body after downloading the state (about a minute for a
# million accounts), and a peer back from a while offline syncs from them
MIN_KEEP = 256
LOG_SECONDS = 30.0


class BlockPruner:
    """`keep=None` keeps every body (the default, as Substrate's archive-canonical)."""

    def __init__(self, store: ChainStore, keep: int | None) -> None:
        if keep is not None and keep < 1:
            raise ValueError("block pruning keeps at least 1 finalized block")
        self.store = store
        self.keep = keep
        raw = store.meta(BLOCKS_PRUNED_THROUGH)
        # genesis keeps its body (tiny, and what a chain is known by); a
        # warp-synced node holds no body below its warp block to walk over
        warped = store.meta(WARP_FROM)
        self.through = max(
            0 if raw is None else int.from_bytes(raw, "big"), int.from_bytes(warped or b"\x01", "big") - 1
        )
        self.bodies_deleted = 0
        self._logged = time.monotonic()

    @property
    def floor(self) -> int:
        """The lowest block number above genesis whose body may still be here."""
        return self.through + 1

    def finalized(self, number: int) -> None:
        """Finality reached `number`: delete the bodies that fall out of the window."""
        if self.keep is None:
            return
        target = min(number - self.keep, self.through + HEIGHTS_PER_CALL)
        while self.through < target:
            self._prune_height(self.through + 1)
        now = time.monotonic()
        if self.bodies_deleted and now - self._logged >= LOG_SECONDS:
            self._logged = now
            log.info("Block bodies pruned below #%d (%d deleted so far)", self.floor, self.bodies_deleted)

    def _prune_height(self, number: int) -> None:
        block_hash = self.store.hash_at(number)
        self.through = number  # first: a reader that misses the body is told why
        if self.store.prune_body(block_hash, (BLOCKS_PRUNED_THROUGH, number.to_bytes(8, "big"))):
            self.bodies_deleted += 1

    def message(self, number: int) -> str | None:
        """Why the body of block `number` is missing, if pruning took it."""
        if self.keep is None or not 0 < number <= self.through:
            return None
        return (
            f"block body of #{number} pruned: this node keeps the bodies of the last {self.keep} "
            "finalized blocks (--blocks-pruning archive keeps every body)"
        )
