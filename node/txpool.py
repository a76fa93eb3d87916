"""The transaction pool.

Entry check: signature, nonce (not stale, not too far ahead), fee, size.
Transactions wait per sender by nonce; the ready queue walks each sender's
consecutive nonces from its on-chain nonce and, across senders, takes the
highest tip first. Future nonces wait until the gap fills. The pool is
bounded: when full, a better-paying transaction evicts the cheapest one.
"""

import heapq
from collections.abc import Iterator
from dataclasses import dataclass

from runtime.errors import InvalidTransaction
from runtime.executive import check_transaction
from runtime.pallets import balances
from runtime.state import State
from runtime.types import extrinsic_hash

MAX_FUTURE_NONCES = 64


class PoolError(Exception):
    """Why the pool refused a transaction."""


@dataclass(frozen=True)
class PoolTx:
    raw: bytes
    hash: bytes
    sender: bytes
    nonce: int
    tip: int


class TxPool:
    def __init__(self, max_count: int = 8_192, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.by_hash: dict[bytes, PoolTx] = {}
        self.by_sender: dict[bytes, dict[int, PoolTx]] = {}
        self.bytes = 0

    def __len__(self) -> int:
        return len(self.by_hash)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self.by_hash

    def submit(self, state: State, raw: bytes) -> bytes:
        tx_hash = extrinsic_hash(raw)
        if tx_hash in self.by_hash:
            raise PoolError("AlreadyInPool: this transaction is already pending")
        try:
            checked = check_transaction(state, raw, allow_future=True)
        except InvalidTransaction as exc:
            raise PoolError(exc.reason) from None
        xt = checked.extrinsic
        on_chain = balances.get(state, xt.signer).nonce
        if xt.nonce - on_chain > MAX_FUTURE_NONCES:
            raise PoolError(f"Future: nonce {xt.nonce} is more than {MAX_FUTURE_NONCES} ahead of {on_chain}")
        tx = PoolTx(raw, tx_hash, xt.signer, xt.nonce, xt.tip)
        existing = self.by_sender.get(xt.signer, {}).get(xt.nonce)
        if existing is not None:
            if existing.tip >= tx.tip:
                raise PoolError(
                    "Underpriced: a transaction with this nonce is pending; raise the tip to replace it"
                )
            self._remove(existing)
        self._make_room(tx)
        self.by_hash[tx_hash] = tx
        self.by_sender.setdefault(tx.sender, {})[tx.nonce] = tx
        self.bytes += len(raw)
        return tx_hash

    def _make_room(self, tx: PoolTx) -> None:
        while len(self.by_hash) >= self.max_count or self.bytes + len(tx.raw) > self.max_bytes:
            # The cheapest is the lowest tip; among equals the furthest nonce,
            # whose loss strands nothing behind it.
            cheapest = min(self.by_hash.values(), key=lambda t: (t.tip, -t.nonce))
            if cheapest.tip >= tx.tip:
                raise PoolError("PoolFull: the pool is full of transactions that pay at least as much")
            self._remove(cheapest)

    def _remove(self, tx: PoolTx) -> None:
        if self.by_hash.pop(tx.hash, None) is None:
            return
        self.bytes -= len(tx.raw)
        queue = self.by_sender[tx.sender]
        queue.pop(tx.nonce, None)
        if not queue:
            del self.by_sender[tx.sender]

    def remove(self, tx_hashes: list[bytes]) -> None:
        for tx_hash in tx_hashes:
            tx = self.by_hash.get(tx_hash)
            if tx is not None:
                self._remove(tx)

    def ready(self, state: State) -> Iterator[bytes]:
        """Ready transactions, in the order a block should take them."""
        heap: list[tuple[int, bytes, int]] = []
        for sender, queue in self.by_sender.items():
            nonce = balances.get(state, sender).nonce
            if nonce in queue:
                heapq.heappush(heap, (-queue[nonce].tip, sender, nonce))
        while heap:
            _, sender, nonce = heapq.heappop(heap)
            queue = self.by_sender.get(sender, {})
            tx = queue.get(nonce)
            if tx is None:
                continue
            yield tx.raw
            following = queue.get(nonce + 1)
            if following is not None:
                heapq.heappush(heap, (-following.tip, sender, nonce + 1))

    def prune(self, state: State) -> int:
        """Drop what the new best state made stale; returns how many."""
        stale: list[PoolTx] = []
        for sender, queue in self.by_sender.items():
            nonce = balances.get(state, sender).nonce
            stale.extend(tx for n, tx in queue.items() if n < nonce)
        for tx in stale:
            self._remove(tx)
        return len(stale)

    def pending(self) -> list[PoolTx]:
        return sorted(self.by_hash.values(), key=lambda t: (t.sender, t.nonce))

    def next_nonce(self, state: State, sender: bytes) -> int:
        """The nonce a new transaction of `sender` should use (pool-aware)."""
        nonce = balances.get(state, sender).nonce
        queue = self.by_sender.get(sender, {})
        while nonce in queue:
            nonce += 1
        return nonce
