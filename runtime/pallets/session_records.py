"""The sessions pallet's records and storage for the sampled verification of
settled batches (see `session_audits` and `session_checks`): new maps beside
the sessions' own, so the Session and Batch records keep their layout."""

from dataclasses import dataclass
from enum import StrEnum

from runtime.pallets.session_types import PALLET, batch_key
from runtime.record import codec
from runtime.storage import StorageMap, StorageValue


class AuditPhase(StrEnum):
    DRAW = "draw"  # settled: the draw comes SAMPLE_DELAY blocks later
    PUBLISH = "publish"  # leaves drawn: the provider publishes them until `publish_by`
    CHECK = "check"  # every sampled leaf published (or the window closed): the checks run


@dataclass(frozen=True)
class Audit:
    """A settled batch under sampled verification, until it clears."""

    session: int
    batch: int
    provider: bytes
    user: bytes
    model: bytes
    log_root: bytes  # the batch's settled root, over the session's first `count` leaves
    first: int  # the batch's leaves are `first` to `count - 1`
    count: int
    units: int  # work units the batch was paid for
    fee: int  # base units the user paid for it
    held: int  # the verifiers' share of the fee, held in the provider's reserved balance
    at: int  # block of the settle
    phase: AuditPhase = AuditPhase.DRAW
    leaves: tuple[int, ...] = ()  # the sampled leaf indices, ascending
    checks: tuple[int, ...] = ()  # per sampled leaf: its check id once published, else 0
    publish_by: int = 0  # the last block to publish in
    failure: str = ""  # "missed" or "units": the provider failed the batch without a dispute


@dataclass(frozen=True)
class Sample:
    """A published sampled leaf: what its verifiers re-execute."""

    check: int  # its check id in `verification`
    session: int
    batch: int
    leaf: int
    provider: bytes
    model: bytes
    seq: int
    request: bytes  # the canonical request (`runtime.session_request`)
    result: bytes  # the provider's canonical result
    units: int


# A user's challenge of one leaf (`session_challenges`) is an audit of its own,
# keyed and numbered (session, CHALLENGE_BATCH + leaf index): batch indices never
# reach it, and a leaf is challenged at most once.
CHALLENGE_BATCH = 1 << 63


def is_challenge(found: Audit) -> bool:
    return found.batch >= CHALLENGE_BATCH


def audit_key(found: Audit) -> bytes:
    return batch_key(found.session, found.batch)


# batch key (session, index: two 8-byte big-endian numbers) -> its audit, until it clears
Audits: StorageMap[Audit | None] = StorageMap(PALLET, "Audits", None, *codec(Audit | None))
# block number -> batch keys (sorted, 16 bytes each) whose audit has a step then
AuditDue: StorageMap[bytes] = StorageMap(PALLET, "AuditDue", b"")
# session -> its audits not yet cleared: its end waits for them
OpenAudits: StorageMap[int] = StorageMap(PALLET, "OpenAudits", 0)
# provider -> batch keys with sampled leaves still to publish (what its worker reads)
Owed: StorageMap[tuple[bytes, ...]] = StorageMap(PALLET, "Owed", (), list, tuple)
# check id -> the published leaf, until its batch clears
Samples: StorageMap[Sample | None] = StorageMap(PALLET, "Samples", None, *codec(Sample | None))
NextCheck: StorageValue[int] = StorageValue(PALLET, "NextCheck", 0)  # session checks so far
# batch key -> the leaf indices of the batch its opener challenged (at most
# MAX_CHALLENGES_PER_BATCH), kept as long as the batch is
Challenged: StorageMap[tuple[int, ...]] = StorageMap(PALLET, "Challenged", (), list, tuple)
