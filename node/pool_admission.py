"""The transaction pool's admission rules, Substrate-style.

A transaction is *ready* when every nonce from its sender's on-chain nonce up
to its own is in the pool, and *future* (gapped) otherwise. Future ones cannot
be included, so they are the cheap way to jam a pool: here they get a per
sender quota (count and bytes), a bounded share of the whole pool, and an
expiry in blocks. Every sender's queue must be payable from its free balance
at the best state, so a flood is never free. Transactions the node submits
itself (its validator and worker) have a reserved share that gossip and RPC
cannot fill.

Everything checked here is cheap (a decode, a state read, arithmetic): the
pool runs these rules before it pays for a signature check.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, StrEnum

from runtime.constants import PPM
from runtime.errors import Invalidity, InvalidTransaction
from runtime.types import Call

MAX_FUTURE_NONCES = 64


class Blame(Enum):
    """How much a refusal says about the peer that relayed the transaction."""

    NONE = "none"  # honest peers send these too: known, stale, outbid, pool full
    SPAM = "spam"  # not provably invalid, unwanted by our state: grades the peer, never bans it
    BAD = "bad"  # provably invalid: malformed, badly signed, oversized


class Rejection(StrEnum):
    """Why the pool refused a transaction: the runtime's reasons (by the same
    names) and the pool's own. RPC error codes and peer blame follow from it."""

    TOO_LARGE = Invalidity.TOO_LARGE.value
    MALFORMED = Invalidity.MALFORMED.value
    STALE = Invalidity.STALE.value
    FUTURE = Invalidity.FUTURE.value
    PAYMENT = Invalidity.PAYMENT.value
    BAD_PROOF = Invalidity.BAD_PROOF.value
    EXHAUSTS_RESOURCES = Invalidity.EXHAUSTS_RESOURCES.value
    ALREADY_IN_POOL = "AlreadyInPool"
    UNDERPRICED = "Underpriced"  # same nonce pending with a tip at least as high
    UNPAYABLE = "Unpayable"  # the sender's pending transactions cost more than it has
    TOO_MANY_FUTURE = "TooManyFuture"
    POOL_FULL = "PoolFull"


BLAME = {
    Rejection.TOO_LARGE: Blame.BAD, Rejection.MALFORMED: Blame.BAD, Rejection.BAD_PROOF: Blame.BAD,
    Rejection.PAYMENT: Blame.SPAM, Rejection.FUTURE: Blame.SPAM, Rejection.UNPAYABLE: Blame.SPAM,
    Rejection.TOO_MANY_FUTURE: Blame.SPAM,
}  # fmt: skip


class PoolError(Exception):
    """Why the pool refused a transaction: `kind` decides, `reason` explains."""

    def __init__(self, kind: Rejection, detail: str = "") -> None:
        self.kind = kind
        self.blame = BLAME.get(kind, Blame.NONE)
        self.reason = f"{kind}: {detail}" if detail else str(kind)
        super().__init__(self.reason)

    @classmethod
    def of(cls, invalid: InvalidTransaction) -> "PoolError":
        error = cls(Rejection(invalid.kind.value))
        error.reason = invalid.reason
        error.args = (invalid.reason,)
        return error


@dataclass(frozen=True)
class PoolLimits:
    max_count: int = 8_192
    max_bytes: int = 32 * 1024 * 1024
    # Future transactions may hold a quarter of the pool: ready ones (which pay
    # and leave in blocks) always find the other three quarters.
    future_share_ppm: int = 250_000
    # Kept for the node's own transactions (a provider's reveal must never
    # meet a full pool: a missed reveal is slashed).
    local_share_ppm: int = 125_000
    # One sender's gaps: enough for out-of-order gossip, and four of the
    # largest extrinsics, but a few accounts can no longer fill the pool.
    sender_future_count: int = 16
    sender_future_bytes: int = 256 * 1024
    # A gap that does not fill within this many blocks is abandoned.
    future_expiry_blocks: int = 64
    # Senders holding more than this many may lose their last to a sender
    # holding fewer that pays as much (see `TxPool._hog_victim`).
    sender_fair_count: int = 16

    @property
    def future_count(self) -> int:
        return max(1, self.max_count * self.future_share_ppm // PPM)

    @property
    def future_bytes(self) -> int:
        return max(1, self.max_bytes * self.future_share_ppm // PPM)

    @property
    def external_count(self) -> int:
        return self.max_count - self.max_count * self.local_share_ppm // PPM

    @property
    def external_bytes(self) -> int:
        return self.max_bytes - self.max_bytes * self.local_share_ppm // PPM


@dataclass(frozen=True)
class PoolTx:
    raw: bytes
    hash: bytes
    sender: bytes
    nonce: int
    tip: int
    fee: int = 0
    spend: int = 0  # what the call moves out of free balance, where cheaply known
    local: bool = False
    since: int = 0  # best block number when it entered the pool
    seq: int = 0  # arrival order

    @property
    def size(self) -> int:
        return len(self.raw)


# Calls whose argument says how much free balance they take.
_SPENDING = {
    ("balances", "transfer"): "amount",
    ("balances", "transfer_keep_alive"): "amount",
    ("staking", "bond"): "amount",
    ("jobs", "submit"): "max_fee",
}


def known_spend(call: Call) -> int:
    arg = _SPENDING.get((call.pallet, call.name))
    value = None if arg is None else call.args.get(arg)
    return value if type(value) is int and value > 0 else 0


def first_unpayable(free: int, queue: Iterable[PoolTx]) -> int | None:
    """Index of the first transaction of a nonce-ordered queue its sender
    cannot pay, or None. A spend larger than what is left would fail in the
    block (paying only its fee), so it is counted only when it fits."""
    left = free
    for index, tx in enumerate(queue):
        charge = tx.fee + tx.tip
        if charge > left:
            return index
        left -= charge
        if tx.spend <= left:
            left -= tx.spend
    return None


class SenderQueue:
    """One sender's pending transactions by nonce, and where its ready run ends."""

    def __init__(self) -> None:
        self.txs: dict[int, PoolTx] = {}
        self.base = 0  # its on-chain nonce, as of the last sync
        self.ready_end = 0  # the first nonce at or above `base` missing from the pool

    def sync(self, base: int) -> None:
        self.base = base
        nonce = base
        while nonce in self.txs:
            nonce += 1
        self.ready_end = nonce

    def is_ready(self, tx: PoolTx) -> bool:
        return self.base <= tx.nonce < self.ready_end

    def ordered(self) -> list[PoolTx]:
        return [self.txs[n] for n in sorted(self.txs)]

    def future(self) -> list[PoolTx]:
        return [tx for tx in self.txs.values() if tx.nonce > self.ready_end]
