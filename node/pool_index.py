"""The transaction pool's bookkeeping: transactions by hash and by sender,
each one's class (ready or gapped, local or not) with running totals per
class, and a lazy min-heap per class for picking eviction victims in
O(log n) rather than scanning the pool on every admission."""

import heapq
import itertools
from dataclasses import replace

from node.pool_admission import PoolLimits, PoolTx, SenderQueue
from runtime.pallets import balances
from runtime.state import State
from runtime.types import extrinsic_hash

Class = tuple[bool, bool]  # (ready, local)


class PoolIndex:
    def __init__(
        self, max_count: int | None = None, max_bytes: int | None = None, limits: PoolLimits | None = None
    ) -> None:
        limits = limits or PoolLimits()
        if max_count is not None or max_bytes is not None:
            limits = replace(
                limits, max_count=max_count or limits.max_count, max_bytes=max_bytes or limits.max_bytes
            )
        self.limits = limits
        self.by_hash: dict[bytes, PoolTx] = {}
        self.by_sender: dict[bytes, SenderQueue] = {}
        self.bytes = 0
        self.local_count = self.local_bytes = 0
        self.future_count = self.future_bytes = 0
        self._ready: dict[bytes, bool] = {}
        self._heaps: dict[Class, list[tuple[int, int, int, bytes]]] = {
            (r, loc): [] for r in (True, False) for loc in (True, False)
        }
        self._seq = itertools.count()

    @property
    def max_count(self) -> int:
        return self.limits.max_count

    @property
    def max_bytes(self) -> int:
        return self.limits.max_bytes

    def __len__(self) -> int:
        return len(self.by_hash)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self.by_hash

    def verified(self, raw: bytes) -> bool:
        """Whether `raw` is pending here, so its signature was checked on entry."""
        tx = self.by_hash.get(extrinsic_hash(raw))
        return tx is not None and tx.raw == raw

    def _peek(self, cls: Class) -> PoolTx | None:
        """The cheapest of a class: lowest tip, then highest nonce (it strands
        nothing), then newest. Entries of departed or reclassified
        transactions are skipped lazily."""
        heap = self._heaps[cls]
        while heap:
            tx = self.by_hash.get(heap[0][3])
            if tx is not None and self._ready.get(tx.hash) == cls[0]:
                return tx
            heapq.heappop(heap)
        return None

    # -- bookkeeping ----------------------------------------------------------------
    def _insert(self, tx: PoolTx, base: int) -> None:
        queue = self.by_sender.get(tx.sender)
        if queue is None:
            queue = self.by_sender[tx.sender] = SenderQueue()
            queue.base = base
        queue.txs[tx.nonce] = tx
        self.by_hash[tx.hash] = tx
        self.bytes += tx.size
        if tx.local:
            self.local_count += 1
            self.local_bytes += tx.size
        self._sync(queue, queue.base)

    def _drop(self, tx: PoolTx, resync: bool = True) -> None:
        """Take one transaction out; `resync=False` when the caller resyncs
        the sender once after several."""
        if self.by_hash.pop(tx.hash, None) is None:
            return
        self.bytes -= tx.size
        if tx.local:
            self.local_count -= 1
            self.local_bytes -= tx.size
        if self._ready.pop(tx.hash, None) is False:
            self.future_count -= 1
            self.future_bytes -= tx.size
        queue = self.by_sender[tx.sender]
        queue.txs.pop(tx.nonce, None)
        if not queue.txs:
            del self.by_sender[tx.sender]
        elif resync:
            self._sync(queue, queue.base)

    def _sync(self, queue: SenderQueue, base: int) -> None:
        """Recompute a sender's ready run from `base`, dropping stale nonces,
        and move the transactions whose class changed."""
        for tx in [t for n, t in queue.txs.items() if n < base]:
            self._drop(tx, resync=False)
        queue.sync(base)
        for tx in queue.txs.values():
            ready = queue.is_ready(tx)
            was = self._ready.get(tx.hash)
            if was is ready:
                continue
            delta = (0 if ready else 1) - (1 if was is False else 0)
            self.future_count += delta
            self.future_bytes += delta * tx.size
            self._ready[tx.hash] = ready
            self._push(tx, ready)
        self._compact()

    def _push(self, tx: PoolTx, ready: bool) -> None:
        heapq.heappush(self._heaps[(ready, tx.local)], (tx.tip, -tx.nonce, -tx.seq, tx.hash))

    def _compact(self) -> None:
        """Rebuild a heap once skipped entries outnumber live ones."""
        for (ready, local), heap in self._heaps.items():
            if len(heap) > 2 * len(self.by_hash) + 256:
                live = [
                    e for e in heap if self._ready.get(e[3]) == ready and self.by_hash[e[3]].local == local
                ]
                heapq.heapify(live)
                self._heaps[(ready, local)] = live

    # -- removal and queries -------------------------------------------------
    def remove(self, tx_hashes: list[bytes]) -> None:
        touched: set[bytes] = set()
        for tx_hash in tx_hashes:
            tx = self.by_hash.get(tx_hash)
            if tx is not None:
                self._drop(tx, resync=False)  # a full block: resync each sender once, not per tx
                touched.add(tx.sender)
        for sender in touched:
            queue = self.by_sender.get(sender)
            if queue is not None:
                self._sync(queue, queue.base)

    def pending(self) -> list[PoolTx]:
        return sorted(self.by_hash.values(), key=lambda t: (t.sender, t.nonce))

    def next_nonce(self, state: State, sender: bytes) -> int:
        """The nonce a new transaction of `sender` should use (pool-aware)."""
        nonce = balances.get(state, sender).nonce
        queue = self.by_sender.get(sender)
        while queue is not None and nonce in queue.txs:
            nonce += 1
        return nonce
