"""The sessions pallet's declarations: its errors, events and statuses, the
session, cheque and batch records, and their storage (see `sessions`)."""

from dataclasses import dataclass
from enum import StrEnum, auto
from typing import Any

from runtime.constants import MAX_SESSION_BATCHES, MAX_U64, SESSION_CLOSE_WINDOW
from runtime.context import Ctx
from runtime.crypto import SIGNATURE_BYTES, verify
from runtime.errors import PalletError
from runtime.record import codec
from runtime.state import State
from runtime.storage import StorageMap, StorageValue, insert_id
from runtime.types import PalletEvent, cheque_payload

PALLET = "sessions"


class Error(PalletError, pallet=PALLET):
    UnknownModel = auto()
    BadKey = auto()
    BadSla = auto()
    BadExpiry = auto()
    DepositTooLow = auto()
    TooManySessions = auto()
    NotServing = auto()
    PriceTooHigh = auto()
    ReputationTooLow = auto()
    ProviderBusy = auto()
    NoProvider = auto()
    SelfDealing = auto()
    UnknownSession = auto()
    NotProvider = auto()
    NotParty = auto()
    AlreadyClosing = auto()
    Ended = auto()
    TooSoon = auto()
    StaleCheque = auto()
    OverDeposit = auto()
    BadCount = auto()
    BadSignature = auto()
    NotSampled = auto()
    AlreadyPublished = auto()
    TooLate = auto()
    TooLarge = auto()
    BadProof = auto()
    BadRequest = auto()
    NotOpener = auto()
    NotSettled = auto()
    AlreadyChallenged = auto()
    TooManyChallenges = auto()


class Event(PalletEvent, pallet=PALLET):
    Opened = auto()
    Settled = auto()
    Closing = auto()
    Ended = auto()
    BatchSampled = auto()
    SamplePublished = auto()
    UnitsMismatch = auto()
    PublicationMissed = auto()
    BatchVerified = auto()
    BatchRejected = auto()
    PublicationRefused = auto()
    Challenged = auto()
    ChallengeCleared = auto()


class SessionStatus(StrEnum):
    """A session's life; after its end it is removed (its id is never reused)."""

    OPEN = "open"  # serving until its expiry
    CLOSING = "closing"  # closed by either side: the provider's last settle window runs


@dataclass(frozen=True)
class Session:
    id: int
    user: bytes  # who opened it and pays: the deposit is reserved from this account
    provider: bytes
    model: bytes
    key: bytes  # the public key that signs the cheques (the user's own, or a delegated one)
    deposit: int  # base units reserved at opening
    price: int  # base units per work unit, fixed at opening
    expiry: int  # block number
    opened_at: int
    status: SessionStatus = SessionStatus.OPEN
    closed_at: int = 0  # block of the close (status CLOSING)
    seq: int = 0  # of the last settled cheque (0: none yet; requests count from 1)
    units: int = 0  # cumulative work units settled
    paid: int = 0  # base units charged so far (units x price)
    count: int = 0  # leaves of the session's request log settled so far
    batches: int = 0  # settles so far
    settled_at: int = 0  # block of the last settle

    @property
    def window_start(self) -> int:
        """The block from which only the provider's last settles remain."""
        return min(self.expiry, self.closed_at) if self.status == SessionStatus.CLOSING else self.expiry

    @property
    def ends_at(self) -> int:
        """The last block the provider may settle in; its `on_finalize` refunds the rest."""
        return self.window_start + SESSION_CLOSE_WINDOW


@dataclass(frozen=True)
class Cheque:
    """A request's voucher, signed off chain by the session's key: the session,
    the request's sequence number (from 1), the cumulative work units so far
    (this request included) and the request's hash."""

    seq: int
    units: int
    request_hash: bytes
    signature: bytes

    def verify(self, chain_id: bytes, session: int, key: bytes) -> bool:
        payload = cheque_payload(chain_id, session, self.seq, self.units, self.request_hash)
        return verify(key, payload, self.signature)

    @classmethod
    def from_arg(cls, arg: dict[str, Any]) -> "Cheque":
        return cls(arg["seq"], arg["units"], arg["request_hash"], arg["signature"])


def cheque_arg(value: Any) -> bool:
    """The argument checker of a cheque: `{seq, units, request_hash, signature}`."""
    if type(value) is not dict or set(value) != {"seq", "units", "request_hash", "signature"}:
        return False
    seq, units, request_hash, signature = (value[k] for k in ("seq", "units", "request_hash", "signature"))
    return (
        all(type(n) is int and 0 <= n <= MAX_U64 for n in (seq, units))
        and type(request_hash) is bytes and len(request_hash) == 32
        and type(signature) is bytes and len(signature) == SIGNATURE_BYTES
    )  # fmt: skip


@dataclass(frozen=True)
class Batch:
    """One settle of a session: leaves `first` to `count - 1` of its request log,
    whose root after them is `log_root`, worth `units` work units (kept for the
    sampled verification of the batch's requests)."""

    session: int
    index: int
    log_root: bytes
    first: int
    count: int
    units: int
    seq: int
    at: int


Sessions: StorageMap[Session | None] = StorageMap(PALLET, "Sessions", None, *codec(Session | None))
NextId: StorageValue[int] = StorageValue(PALLET, "NextId", 0)
# payer -> its sessions (open or closing), in id order
OpenedBy: StorageMap[tuple[int, ...]] = StorageMap(PALLET, "OpenedBy", (), list, tuple)
# provider -> the sessions it serves, in id order: what its worker reads
ServedBy: StorageMap[tuple[int, ...]] = StorageMap(PALLET, "ServedBy", (), list, tuple)
# (session, index) as two 8-byte big-endian numbers -> the batch; the last MAX_SESSION_BATCHES kept
Batches: StorageMap[Batch | None] = StorageMap(PALLET, "Batches", None, *codec(Batch | None))
# block number -> ids of the sessions whose end may come then, as sorted 8-byte big-endian numbers
Due: StorageMap[bytes] = StorageMap(PALLET, "Due", b"")


def session(state: State, session_id: int) -> Session | None:
    return Sessions.get(state, session_id)


def batch_key(session_id: int, index: int) -> bytes:
    return session_id.to_bytes(8, "big") + index.to_bytes(8, "big")


def batch(state: State, session_id: int, index: int) -> Batch | None:
    return Batches.get(state, batch_key(session_id, index))


def batches(state: State, session_id: int) -> list[Batch]:
    """The batches of a session still kept, oldest first."""
    found = Sessions.get(state, session_id)
    if found is None:
        return []
    kept = range(max(0, found.batches - MAX_SESSION_BATCHES), found.batches)
    return [b for index in kept if (b := batch(state, session_id, index)) is not None]


def due(state: State, at: int) -> list[int]:
    run = Due.get(state, at)
    return [int.from_bytes(run[i : i + 8], "big") for i in range(0, len(run), 8)]


def set_due(ctx: Ctx, at: int, ids: list[int]) -> None:
    Due.put(ctx.state, at, b"".join(i.to_bytes(8, "big") for i in sorted(set(ids))))


def schedule(ctx: Ctx, session_id: int, at: int) -> None:
    Due.put(ctx.state, at, insert_id(Due.get(ctx.state, at), session_id))
