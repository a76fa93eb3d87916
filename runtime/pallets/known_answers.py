"""Known-answer jobs: hidden tests of providers.

A validator seals `H(task || expected_result_hash || salt)` from its own
account, where `task` digests the job's kind, model, input hash and settings,
and later submits that job from an ordinary-looking account. The seal names
no job and may precede the job by any number of blocks, so neither its
content nor its timing tells a provider which jobs are tests; it only has to
be on chain before the provider reveals. After the reveal the validator
opens the seal: a
result that hashes to the expected one passes; otherwise the validator says
whether it still matches by the kind's comparison rule (honest hardware noise
changes hashes, not verdicts). A non-match goes to a dispute of three
verifiers like any mismatch, and a confirmed one is slashed as
`failed_known_answer` (30%).
"""

from enum import auto

from runtime.codec import blake2b_256, encode
from runtime.constants import MAX_SALT_BYTES, SEAL_GRACE
from runtime.context import Ctx
from runtime.dispatch import Calls, amount, blob, boolean, hash32
from runtime.errors import PalletError
from runtime.pallets import jobs, staking, verification
from runtime.storage import StorageMap, bytes_tuple
from runtime.types import PalletEvent

PALLET = "known_answers"


class Error(PalletError, pallet=PALLET):
    NotValidator = auto()
    Duplicate = auto()
    NotRevealed = auto()
    UnknownSeal = auto()
    SealedTooLate = auto()


class Event(PalletEvent, pallet=PALLET):
    Opened = auto()


calls = Calls(PALLET)


# seal -> [validator, block sealed]
Seals: StorageMap[list[object] | None] = StorageMap(PALLET, "Seals", None)
# block -> seals that lapse then (an unopened seal must not stay in the state forever)
Lapsing: StorageMap[tuple[bytes, ...]] = StorageMap(PALLET, "Lapsing", (), list, bytes_tuple)


def task_of(kind: str, model: bytes, input_hash: bytes, settings: dict[str, int]) -> bytes:
    """What a known answer is the answer to; `settings` with defaults filled in
    (`job_rules.check_options`), as the job stores them."""
    return blake2b_256(encode([kind, model, input_hash, sorted(settings.items())]))


def seal_of(task: bytes, expected_hash: bytes, salt: bytes) -> bytes:
    return blake2b_256(b"vcoin-known-answer" + task + expected_hash + salt)


@calls.add("seal", seal=hash32)
def seal(ctx: Ctx, origin: bytes, seal: bytes) -> None:
    if origin not in staking.Active.get(ctx.state):
        raise Error.NotValidator("only active validators seal known answers")
    if Seals.contains(ctx.state, seal):
        raise Error.Duplicate("this seal exists")
    Seals.put(ctx.state, seal, [origin, ctx.number])
    p = ctx.params
    lapses = ctx.number + SEAL_GRACE + p.max_job_deadline + p.job_challenge_window + p.verify_window
    Lapsing.put(ctx.state, lapses, (*Lapsing.get(ctx.state, lapses), seal))


def on_finalize(ctx: Ctx) -> None:
    for seal in Lapsing.get(ctx.state, ctx.number):
        Seals.put(ctx.state, seal, None)
    Lapsing.put(ctx.state, ctx.number, ())


@calls.add("open", job=amount, expected_hash=hash32, salt=blob(MAX_SALT_BYTES), matches=boolean)
def open_seal(ctx: Ctx, origin: bytes, job: int, expected_hash: bytes, salt: bytes, matches: bool) -> None:
    found = jobs.job(ctx.state, job)
    if found is None or found.status != jobs.JobStatus.REVEALED:
        raise Error.NotRevealed("open a known answer after the reveal and before settlement")
    seal = seal_of(task_of(found.kind, found.model, found.input_hash, found.options), expected_hash, salt)
    sealed = Seals.get(ctx.state, seal)
    if sealed is None or sealed[0] != origin:
        raise Error.UnknownSeal("no seal of yours opens to this job and answer")
    if not isinstance(sealed[1], int) or sealed[1] >= found.revealed_at:
        raise Error.SealedTooLate("the answer was sealed after the provider revealed")
    Seals.put(ctx.state, seal, None)
    passed = found.result_hash == expected_hash or matches
    ctx.emit(Event.Opened, job=job, provider=found.provider, passed=passed)
    if not passed:
        verification.dispute_known_answer(ctx, job, found.provider, origin)
