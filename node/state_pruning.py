"""State pruning: delete the trie nodes that no kept state needs.

Substrate's death rows, kept in LevelDB rather than in memory. Each block's
write journals the nodes the block replaced (`R:` number‖hash → the
block's birth ‖ hashes), and every stored node carries its own birth: the
sequence number of the write that last stored it (`node.node_store`). When
finality leaves height h outside the window, the canonical block at h's
journal is walked, and a node born before that block is deleted: it was
not built again since.

Why that is safe: every kept state is the canonical block at h or one of its
descendants, each imported after it. A node in a descendant's tree that the
block at h replaced must have been built again on the way, and that write
gave it a later birth. So the check never deletes a live node. What it can
miss: a node that only a fork built again stays (forks are rare; such nodes
leak, they are never lost).

A block's events are state too: they go with it (`events_kept`).

Crash safety: the floor (the lowest block whose state is complete) moves up
before any node of the height below it goes, and the height is marked done
with its journals' removal; LevelDB writes one log in order, so after a
crash the floor is never above a missing node's state and an unfinished
height is walked again (the check is idempotent).
"""

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from node.node_store import BIRTH_BYTES, JOURNAL_PREFIX, NODE_PREFIX
from node.storage import (
    EVENTS_PREFIX,
    META_PREFIX,
    PRUNED_THROUGH,
    PRUNING_MODE,
    STATE_FLOOR,
    ChainStore,
)

log = logging.getLogger("vcoin.pruning")
DEFAULT_KEEP = 256  # --state-pruning: finalized blocks whose state is kept
ARCHIVE, PRUNED = b"archive", b"pruned"  # the mode the store was last run in (PRUNING_MODE)
# nodes checked per write: an import waits at most one chunk (the
# environment may shrink it, so a test's kill lands inside a height)
CHUNK = int(os.environ.get("VCOIN_PRUNE_CHUNK", "4096"))
LOG_SECONDS = 30.0
# LevelDB frees what pruning deletes only when it compacts those keys, which
# its own level-size triggers reach late for a store mostly rewritten in
# place: so the pruned ranges are compacted (GIL released, in this thread)
# each time this many heights were pruned.
COMPACT_EVERY = 256
# The thread waits this long at most, before each chunk, for a block's
# import or authoring to end. Both threads need the GIL, and each LevelDB
# read hands it over: run side by side, a million-account import went from
# 3,500 to 2,000 transfers/s (measured). Between blocks it has the time to
# itself; during a sync it still deletes a chunk each time this runs out.
YIELD_SECONDS = 0.5
# Once quiet, it waits this much more: a sync starts its next block at once.
SETTLE_SECONDS = 0.05
# Heights behind finality beyond which it no longer holds back: a long sync
# at a million accounts leaves ~4 MB of garbage a block, and the backlog
# (journals, dead nodes on disk) must stay bounded.
MAX_BEHIND = 256


class StatePruned(LookupError):
    """A state this node no longer keeps."""


def _number(raw: bytes | None) -> int | None:
    return None if raw is None else int.from_bytes(raw, "big")


class StatePruner:
    """Moves the state floor up behind finality and deletes what falls
    below it; `keep=None` is an archive node (nothing journaled or pruned)."""

    def __init__(self, store: ChainStore, keep: int | None, finalized: int = 0, chunk: int = CHUNK) -> None:
        if keep is not None and keep < 1:
            raise ValueError("state pruning keeps at least 1 finalized block")
        self.store = store
        self.keep = keep
        self.chunk = chunk
        self.floor = _number(store.meta(STATE_FLOOR)) or 0
        self.through = _number(store.meta(PRUNED_THROUGH))
        # Nothing is journaled below a floor set from outside (a fresh store,
        # a warp sync), so the walk starts at the floor; a height cut short
        # by a crash (floor moved, not yet done) is walked again.
        self.through = max(self.through or 0, self.floor - 1)
        if keep is not None and store.meta(PRUNING_MODE) != PRUNED:
            self._start_journaling(finalized)
        store.put_meta(PRUNING_MODE, ARCHIVE if keep is None else PRUNED)
        store.journal_nodes = keep is not None
        self.nodes_deleted = 0
        self._since_compaction = 0
        self._target = self.floor
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._logged = time.monotonic()
        self._quiet = threading.Event()  # set while no block executes (`working`)
        self._quiet.set()
        self._working = 0
        self._working_lock = threading.Lock()
        self.waiting = threading.Event()  # set while the thread waits for quiet (tests)

    # -- what the chain calls -------------------------------------------------
    def finalized(self, number: int) -> None:
        """Finality reached `number`: prune to keep the last `keep` states,
        now (no thread started) or in the pruning thread."""
        if self.keep is None:
            return
        self._target = max(self._target, number - self.keep + 1)
        if self._thread is None:
            self.prune_to(self._target)
        else:
            self._wake.set()

    @contextmanager
    def working(self) -> Iterator[None]:
        """Around a block's execution: the pruning thread holds back."""
        with self._working_lock:
            self._working += 1
            self._quiet.clear()
        try:
            yield
        finally:
            with self._working_lock:
                self._working -= 1
                if not self._working:
                    self._quiet.set()

    def _yield(self) -> None:
        """In the thread, before a chunk: wait for the block in execution,
        if any (not inline: the caller is that block)."""
        if threading.current_thread() is not self._thread or self._quiet.is_set():
            return
        assert self.through is not None
        if self._target - self.through > MAX_BEHIND:
            return
        self.waiting.set()
        try:
            deadline = time.monotonic() + YIELD_SECONDS
            while (left := deadline - time.monotonic()) > 0 and self._quiet.wait(left):
                time.sleep(SETTLE_SECONDS)
                if self._quiet.is_set():
                    return
        finally:
            self.waiting.clear()

    def events_kept(self, number: int) -> bool:
        return number >= self.floor

    def check(self, number: int) -> None:
        if number < self.floor:
            raise StatePruned(
                f"the state of block #{number} is pruned: this node keeps the state of the last "
                f"{self.keep} finalized blocks (from #{self.floor}); "
                "start it with --state-pruning archive to keep every state"
            )

    def _start_journaling(self, finalized: int) -> None:
        """Pruning after an archive run (or on a store from before pruning):
        blocks imported meanwhile journaled nothing, so the heights up to
        the finalized block count as done and the journals left from an
        earlier pruning run go: what archive wrote is kept (never deleted),
        whatever is journaled from now on is pruned."""
        db = self.store.db
        while True:
            with db.iterator(prefix=JOURNAL_PREFIX, include_value=False) as keys:
                chunk = [key for key, _ in zip(keys, range(100_000), strict=False)]
            if not chunk:
                break
            with db.write_batch() as batch:
                for key in chunk:
                    batch.delete(key)
        assert self.through is not None
        self.through = max(self.through, finalized)
        self.store.put_meta(PRUNED_THROUGH, self.through.to_bytes(8, "big"))

    # -- the background thread -------------------------------------------------
    def start(self) -> None:
        if self.keep is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="state pruning", daemon=True)
        self._thread.start()
        self._wake.set()  # finish what a previous run left

    def stop(self) -> None:
        """Stop between two writes (call before the store closes)."""
        self._stopping = True
        self._wake.set()
        self._quiet.set()  # out of a hold-back wait too
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait()
            self._wake.clear()
            try:
                self.prune_to(self._target)
            except Exception:  # logged, retried at the next finalized block
                log.exception("State pruning failed; it is retried when finality moves")

    # -- the work ---------------------------------------------------------------
    def prune_to(self, floor: int) -> None:
        assert self.through is not None
        while self.through < floor and not self._stopping:
            self._prune_height(self.through + 1)
            self._since_compaction += 1
            if self._since_compaction >= COMPACT_EVERY:
                self._compact()
        now = time.monotonic()
        if now - self._logged >= LOG_SECONDS and self.nodes_deleted:
            self._logged = now
            log.info("State pruned below #%d (%d trie nodes deleted so far)", self.floor, self.nodes_deleted)

    def _prune_height(self, number: int) -> None:
        """Delete the nodes the canonical block at `number` replaced (its
        parent's state goes), then forget every journal at that height."""
        store, db = self.store, self.store.db
        height = number.to_bytes(8, "big")
        if self.floor < number:
            store.put_meta(STATE_FLOOR, height)  # before any node goes
            self.floor = number
        canonical = store.hash_at(number)
        tag = None if canonical is None else height + canonical
        journal = None if tag is None else db.get(JOURNAL_PREFIX + tag)
        if journal:
            birth, dead = journal[:BIRTH_BYTES], journal[BIRTH_BYTES:]
            for start in range(0, len(dead), 32 * self.chunk):
                if self._stopping:
                    return
                self._yield()
                if self._stopping:
                    return
                self._delete_dead(dead[start : start + 32 * self.chunk], birth)
        below = (number - 1).to_bytes(8, "big")
        with db.write_batch() as batch:
            # The blocks one height down (forks too: each journaled) lose
            # their events with their state, as Substrate's do.
            for key in db.iterator(prefix=JOURNAL_PREFIX + below, include_value=False):
                batch.delete(EVENTS_PREFIX + key[len(JOURNAL_PREFIX) + 8 :])
                batch.delete(key)
            batch.put(META_PREFIX + PRUNED_THROUGH, height)
        self.through = number

    def _compact(self) -> None:
        start = time.monotonic()
        for prefix in (NODE_PREFIX, JOURNAL_PREFIX, EVENTS_PREFIX):
            self.store.db.compact_range(start=prefix, stop=prefix[:-1] + bytes([prefix[-1] + 1]))
        self._since_compaction = 0
        log.info("State pruning: deleted keys compacted away in %.1f s", time.monotonic() - start)

    def _delete_dead(self, hashes: bytes, birth: bytes) -> None:
        """Delete each of `hashes` born before `birth` (the replacing
        block's): one not built again since. Births are fixed-width
        big-endian, so bytes compare as numbers."""
        db = self.store.db
        with self.store.write_lock, db.write_batch() as batch:
            for offset in range(0, len(hashes), 32):
                key = NODE_PREFIX + hashes[offset : offset + 32]
                stored = db.get(key)
                if stored is not None and stored[-BIRTH_BYTES:] < birth:
                    batch.delete(key)
                    self.nodes_deleted += 1
