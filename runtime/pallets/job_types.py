"""The jobs pallet's declarations: its errors, events, statuses and job
kinds, the job record and its storage, shared by the modules that admit,
assign, refuse and settle jobs."""

from dataclasses import dataclass
from enum import StrEnum, auto

from runtime.context import Ctx
from runtime.errors import PalletError
from runtime.params import Params
from runtime.record import codec
from runtime.state import State
from runtime.storage import StorageMap, StorageValue, insert_id
from runtime.types import PalletEvent

PALLET = "jobs"


class Error(PalletError, pallet=PALLET):
    UnknownModel = auto()
    WrongKind = auto()
    BadInput = auto()
    BadOptions = auto()
    BadDeadline = auto()
    BadSla = auto()
    FeeTooLow = auto()
    TooManyWaiting = auto()
    MarketFull = auto()
    UnknownJob = auto()
    NotAssigned = auto()
    WrongPhase = auto()
    TooLate = auto()
    TooEarly = auto()
    CommitmentMismatch = auto()
    ResultMismatch = auto()
    InlineInput = auto()
    NotGroupLead = auto()
    BadAddress = auto()
    AlreadyStarted = auto()


class Event(PalletEvent, pallet=PALLET):
    Submitted = auto()
    Evicted = auto()
    Assigned = auto()
    Committed = auto()
    Revealed = auto()
    MissedCommit = auto()
    MissedReveal = auto()
    Refused = auto()
    Refunded = auto()
    Rejected = auto()
    Settled = auto()
    RendezvousSet = auto()
    ProgressReported = auto()
    RoundsDelivered = auto()
    Started = auto()
    Declined = auto()


class JobKind(StrEnum):
    """What a job asks for (and what a registered model serves)."""

    INFERENCE = "inference"
    EMBED = "embed"
    LORA = "lora"


class JobStatus(StrEnum):
    """A job's life (see `jobs`); visible over RPC as these strings."""

    PENDING = "pending"  # waiting for a provider
    ASSIGNED = "assigned"
    COMMITTED = "committed"
    REVEALED = "revealed"
    SETTLED = "settled"  # paid: final
    REFUNDED = "refunded"  # nobody served it in time, or it was outbid: final
    REJECTED = "rejected"  # its result was proven wrong: final


@dataclass(frozen=True)
class Job:
    id: int
    submitter: bytes
    kind: JobKind
    model: bytes
    input: bytes  # inline input (canonical msgpack), or b"" when referenced by hash
    input_hash: bytes
    input_size: int
    options: dict[str, int]
    units: int
    max_fee: int
    deadline: int
    min_reputation: int
    created: int
    status: JobStatus = JobStatus.PENDING
    provider: bytes = b""
    price: int = 0
    assigned_at: int = 0
    commitment: bytes = b""
    committed_at: int = 0
    result_hash: bytes = b""
    result: bytes = b""
    revealed_at: int = 0
    tried: tuple[bytes, ...] = ()
    fee: int = 0

    @property
    def rate(self) -> int:
        """The most it pays per work unit: a provider fits it iff its price is at most this."""
        return self.max_fee // self.units


Jobs: StorageMap[Job | None] = StorageMap(PALLET, "Jobs", None, *codec(Job | None))
NextId: StorageValue[int] = StorageValue(PALLET, "NextId", 0)
# block number -> ids of the jobs whose timers expire then, as sorted 8-byte big-endian
# numbers: a flood of jobs with one deadline must not re-encode a long list per job
Due: StorageMap[bytes] = StorageMap(PALLET, "Due", b"")
# provider -> its open jobs (assigned, committed or revealed): what its worker reads
Assignments: StorageMap[tuple[int, ...]] = StorageMap(PALLET, "Assignments", (), list, tuple)
# assigned job -> the last block its commit may land in, once its provider said it
# started (`job_windows.start`); absent: the chain's base window from assignment
CommitBy: StorageMap[int] = StorageMap(PALLET, "CommitBy", 0)


def commit_deadline(state: State, found: Job, params: Params) -> int:
    """The last block in which the assigned provider may commit (or refuse,
    or decline) the job: the base window from its assignment (or from a
    group member's `progress`), or the longer one its `start` gave it."""
    return max(found.assigned_at + params.job_commit_window, CommitBy.get(state, found.id))


def job(state: State, job_id: int) -> Job | None:
    return Jobs.get(state, job_id)


def schedule(ctx: Ctx, job_id: int, at: int) -> None:
    Due.put(ctx.state, at, insert_id(Due.get(ctx.state, at), job_id))


def due(state: State, at: int) -> list[int]:
    """The jobs whose timers expire at block `at`, in id order."""
    run = Due.get(state, at)
    return [int.from_bytes(run[i : i + 8], "big") for i in range(0, len(run), 8)]
