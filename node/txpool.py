"""The transaction pool.

Entry check, cheapest first: size, encoding, nonce window, the sender's
future quota and payability (see `node.pool_admission`), and only then the
signature. Transactions wait per sender by nonce; the ready queue walks each
sender's consecutive nonces from its on-chain nonce and, across senders,
takes the highest tip first (equal tips in turns, so one sender's backlog
cannot starve another's single transfer). When a share of the pool is full,
a newcomer evicts what is worth less: gapped transactions before ready ones,
then the lowest tip; the node's own transactions outrank gossip and RPC.
"""

import heapq
from collections.abc import Callable, Iterator

from node.pool_admission import (
    MAX_FUTURE_NONCES,
    Blame,
    PoolError,
    PoolLimits,
    PoolTx,
    Rejection,
    SenderQueue,
    first_unpayable,
    known_spend,
)
from node.pool_index import Class, PoolIndex
from runtime.codec import CodecError
from runtime.constants import MAX_EXTRINSIC_BYTES
from runtime.errors import InvalidTransaction
from runtime.executive import check_transaction, transaction_fee
from runtime.pallets import balances, system
from runtime.state import State
from runtime.types import Extrinsic, extrinsic_hash
from runtime.weights import weight_of

__all__ = ["MAX_FUTURE_NONCES", "Blame", "PoolError", "PoolLimits", "PoolTx", "Rejection", "TxPool"]

# A victim class, and the tip a victim must be below (None: any tip).
Rule = tuple[Class, int | None]


class TxPool(PoolIndex):
    # -- admission ------------------------------------------------------------
    def submit(self, state: State, raw: bytes, local: bool = False) -> bytes:
        """Admit a transaction; `local` for the node's own (validator, worker)."""
        tx_hash = extrinsic_hash(raw)
        if tx_hash in self.by_hash:
            raise PoolError(Rejection.ALREADY_IN_POOL, "this transaction is already pending")
        tx, queue, free = self._cheap_check(state, raw, tx_hash, local)
        existing = queue.txs.get(tx.nonce)
        if existing is not None and existing.tip >= tx.tip:
            raise PoolError(
                Rejection.UNDERPRICED, "a transaction with this nonce is pending; raise the tip to replace it"
            )
        ready = tx.nonce <= queue.ready_end
        if not ready:
            self._check_quota(queue, tx)
        others = [t for t in queue.ordered() if t.nonce != tx.nonce]
        if first_unpayable(free, sorted([*others, tx], key=lambda t: t.nonce)) is not None:
            raise PoolError(
                Rejection.UNPAYABLE, "the sender's pending transactions would cost more than its free balance"
            )
        try:  # the only costly check, last
            check_transaction(state, raw, allow_future=True)
        except InvalidTransaction as exc:
            raise PoolError.of(exc) from None
        base = queue.base
        if existing is not None:
            self._drop(existing)
        try:
            self._make_room(tx, ready)
        except PoolError:
            if existing is not None:
                self._insert(existing, base)
            raise
        self._insert(tx, base)
        return tx_hash

    def _cheap_check(self, state: State, raw: bytes, tx_hash: bytes, local: bool) -> tuple[
        PoolTx, SenderQueue, int
    ]:  # fmt: skip
        if len(raw) > MAX_EXTRINSIC_BYTES:
            raise PoolError(Rejection.TOO_LARGE, f"{len(raw)} > {MAX_EXTRINSIC_BYTES} bytes")
        try:
            xt = Extrinsic.decode(raw)
        except CodecError as exc:
            raise PoolError(Rejection.MALFORMED, str(exc)) from None
        acc = balances.get(state, xt.signer)
        if xt.nonce < acc.nonce:
            raise PoolError(Rejection.STALE, f"nonce {xt.nonce} already used (next is {acc.nonce})")
        if xt.nonce - acc.nonce > MAX_FUTURE_NONCES:
            raise PoolError(
                Rejection.FUTURE, f"nonce {xt.nonce} is more than {MAX_FUTURE_NONCES} ahead of {acc.nonce}"
            )
        fee = transaction_fee(system.params(state), len(raw), weight_of(xt.call))
        tx = PoolTx(raw, tx_hash, xt.signer, xt.nonce, xt.tip, fee, known_spend(xt.call), local,
                    system.Number.get(state), next(self._seq))  # fmt: skip
        queue = self.by_sender.get(xt.signer) or SenderQueue()
        if queue.txs:
            self._sync(queue, acc.nonce)
        else:
            queue.sync(acc.nonce)
        return tx, queue, acc.free

    def _check_quota(self, queue: SenderQueue, tx: PoolTx) -> None:
        future = [t for t in queue.future() if t.nonce != tx.nonce]
        limits = self.limits
        if len(future) + 1 > limits.sender_future_count or (
            sum(t.size for t in future) + tx.size > limits.sender_future_bytes
        ):
            raise PoolError(
                Rejection.TOO_MANY_FUTURE,
                f"the sender already has {len(future)} transactions waiting on a nonce gap",
            )

    # -- room -------------------------------------------------------------------
    def _make_room(self, tx: PoolTx, ready: bool) -> None:
        lim, size = self.limits, tx.size
        rules = self._victim_rules(tx, ready)
        if not ready:
            future_rules = [r for r in rules if not r[0][0]]
            self._evict_until(
                lambda: self.future_count < lim.future_count and self.future_bytes + size <= lim.future_bytes,
                future_rules, "the pool's share for gapped transactions is full",
            )  # fmt: skip
        fair = tx if ready else None
        if not tx.local:
            self._evict_until(
                lambda: len(self) - self.local_count < lim.external_count
                and self.bytes - self.local_bytes + size <= lim.external_bytes,
                [r for r in rules if not r[0][1]], "the pool is full of transactions that pay at least as much",
                fair,
            )  # fmt: skip
        self._evict_until(
            lambda: len(self) < lim.max_count and self.bytes + size <= lim.max_bytes,
            rules, "the pool is full of transactions that pay at least as much", fair,
        )  # fmt: skip

    @staticmethod
    def _victim_rules(tx: PoolTx, ready: bool) -> list[Rule]:
        """Whom `tx` may evict, in order: gapped before ready, gossip before
        local; a gapped newcomer outbids only gapped ones with a lower tip."""
        future_bound = None if ready else tx.tip
        if not tx.local:
            return [((False, False), future_bound), ((True, False), tx.tip)]
        return [
            ((False, False), None),
            ((True, False), None),
            ((False, True), future_bound),
            ((True, True), tx.tip),
        ]

    def _evict_until(
        self, fits: Callable[[], bool], rules: list[Rule], why: str, fair: PoolTx | None = None
    ) -> None:
        while not fits():
            victim = self._victim(rules) or (None if fair is None else self._hog_victim(fair))
            if victim is None:
                raise PoolError(Rejection.POOL_FULL, why)
            self._evict(victim)

    def _hog_victim(self, tx: PoolTx) -> PoolTx | None:
        """When nothing pays less, a sender within its fair share may still
        take the last place of the sender holding the most transactions, if
        that one pays no more: equal tips from a few accounts cannot keep
        everyone else out (geth's account slots, in spirit)."""
        fair = self.limits.sender_fair_count
        mine = self.by_sender.get(tx.sender)
        if mine is not None and len(mine.txs) >= fair:
            return None
        hog = max(self.by_sender.values(), key=lambda q: len(q.txs), default=None)
        if hog is None or len(hog.txs) <= fair:
            return None
        tail = hog.txs[max(hog.txs)]
        return None if tail.local or tail.tip > tx.tip else tail

    def _victim(self, rules: list[Rule]) -> PoolTx | None:
        for cls, bound in rules:
            tx = self._peek(cls)
            if tx is not None and (bound is None or tx.tip < bound):
                return tx
        return None

    def _evict(self, victim: PoolTx) -> None:
        queue = self.by_sender[victim.sender]
        # Dependants of an evicted ready transaction could never run before it.
        doomed = [victim]
        if self._ready.get(victim.hash):
            doomed += [t for t in queue.txs.values() if t.nonce > victim.nonce]
        for tx in doomed:
            self._drop(tx, resync=False)
        self._sync(queue, queue.base)

    # -- blocks ---------------------------------------------------------------
    def ready(self, state: State) -> Iterator[bytes]:
        """Ready transactions, in the order a block should take them."""
        heap: list[tuple[int, int, int, bytes, int]] = []
        for sender, queue in self.by_sender.items():
            tx = queue.txs.get(balances.get(state, sender).nonce)
            if tx is not None:
                heapq.heappush(heap, (-tx.tip, 0, tx.seq, sender, tx.nonce))
        while heap:
            _, turn, _, sender, nonce = heapq.heappop(heap)
            current = self.by_sender.get(sender)
            tx = None if current is None else current.txs.get(nonce)
            if tx is None or current is None:
                continue
            yield tx.raw
            following = current.txs.get(nonce + 1)
            if following is not None:
                heapq.heappush(heap, (-following.tip, turn + 1, following.seq, sender, nonce + 1))

    def prune(self, state: State) -> int:
        """Drop what the new best state made stale, gaps past their expiry, and
        what a sender can no longer pay for; returns how many."""
        number = system.Number.get(state)
        before = len(self)
        for sender in list(self.by_sender):
            acc = balances.get(state, sender)
            queue = self.by_sender[sender]
            self._sync(queue, acc.nonce)
            expired = {t.hash for t in queue.future() if number - t.since > self.limits.future_expiry_blocks}
            ordered = [t for t in queue.ordered() if t.hash not in expired]
            cut = first_unpayable(acc.free, ordered)
            doomed = [self.by_hash[h] for h in expired] + (ordered[cut:] if cut is not None else [])
            for tx in doomed:
                self._drop(tx, resync=False)
            if doomed and queue.txs:
                self._sync(queue, acc.nonce)
        return before - len(self)
