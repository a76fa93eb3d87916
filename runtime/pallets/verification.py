"""Verification: sampled re-execution of revealed jobs, and disputes.

Two blocks after a reveal, the hash of the block before (unknown to anyone
at commit or reveal time) and the job id decide whether the job is checked.
The rate is `sample_rate_ppm` for a provider at neutral reputation or above,
rising linearly to twice that at zero, and `PROBATION_FACTOR` times the base
for a provider's first `PROBATION_JOBS` jobs (a new provider is checked
more than the least trusted one: an always-cheating newcomer is caught
within its first jobs; no provider is checked less than the base, so the
network-wide rate never falls below it). A checked job gets a verifier
drawn from the active validators, never the provider. It re-executes the job and submits a verdict judged by
the job kind's comparison rule:

- match: the check passes and the verifier shares the verifier fee;
- mismatch: a dispute. Two more validators re-execute; the provider is
  found cheating only if at least two of the three say mismatch. Then it is
  slashed (`mismatch`), its reputation halves, the submitter is refunded,
  and it stops serving for an era (`registry.chill`).
  Whoever voted against a strict majority is slashed (`false_verdict`), so
  one malicious validator can neither slash an honest provider nor clear a
  cheat; where answers are missing and no majority formed, nobody is.

A proven cheat also forfeits the provider's jobs that were still waiting to
settle (their submitters are refunded). A check whose sampled verifier never answers expires and the job settles
unverified; a dispute decides on the verdicts it has when its time is up.
Settlement waits while a check is open.

A check is keyed by a check id: a job's id, or for a leaf sampled from a
session's settled batch and published by its provider, an id from
`SESSION_CHECK_IDS` up (`session_checks`); both go through the same
verifiers, disputes, majority rule and slashes.
"""

from dataclasses import dataclass, replace
from enum import StrEnum, auto

from runtime.codec import blake2b_256
from runtime.constants import (
    DISPUTE_VERIFIERS,
    NEUTRAL_REPUTATION_PPM,
    PPM,
    PROBATION_FACTOR,
    PROBATION_JOBS,
)
from runtime.context import Ctx
from runtime.dispatch import Calls, amount, boolean
from runtime.errors import PalletError
from runtime.pallets import registry, reputation, slashing, staking
from runtime.pallets.slashing import Offence
from runtime.record import codec
from runtime.state import State
from runtime.storage import StorageMap
from runtime.types import PalletEvent

PALLET = "verification"


class Error(PalletError, pallet=PALLET):
    NoOpenCheck = auto()
    NotVerifier = auto()
    AlreadyVoted = auto()
    AlreadyChecked = auto()


class Event(PalletEvent, pallet=PALLET):
    CheckOpened = auto()
    Verdict = auto()
    KnownAnswerFailed = auto()
    Disputed = auto()
    CheckClosed = auto()


class CheckStatus(StrEnum):
    """A check's life; visible over RPC as these strings."""

    OPEN = "open"  # one verifier drawn, no verdict yet
    DISPUTED = "disputed"  # a mismatch: more verifiers asked
    PASSED = "passed"
    FAILED = "failed"  # the provider was proven cheating
    EXPIRED = "expired"  # the verifier never answered: the job settles unverified


calls = Calls(PALLET)


@dataclass(frozen=True)
class Check:
    job: int  # the check's id: a job's id, or a session sample's (`session_checks.SESSION_CHECK_IDS` and up)
    provider: bytes
    verifiers: tuple[bytes, ...]
    verdicts: tuple[tuple[bytes, bool], ...]
    deadline: int
    status: CheckStatus = CheckStatus.OPEN
    offence: Offence = Offence.MISMATCH  # FAILED_KNOWN_ANSWER when a known-answer job caught it


Checks: StorageMap[Check | None] = StorageMap(PALLET, "Checks", None, *codec(Check | None))
Sampled: StorageMap[int] = StorageMap(PALLET, "Sampled", 0)  # job -> 1 once the draw was made
# provider -> block of its last proven cheat: its jobs not yet settled then are forfeited
Cheated: StorageMap[int] = StorageMap(PALLET, "Cheated", 0)
Due: StorageMap[tuple[int, ...]] = StorageMap(PALLET, "Due", (), list, tuple)
# verifier -> jobs it must re-execute (what its verifier worker reads)
Tasks: StorageMap[tuple[int, ...]] = StorageMap(PALLET, "Tasks", (), list, tuple)
# provider -> its disputes still open: no new jobs until they are decided
OpenDisputes: StorageMap[int] = StorageMap(PALLET, "OpenDisputes", 0)


def check(state: State, job: int) -> Check | None:
    return Checks.get(state, job)


def tasks(state: State, verifier: bytes) -> tuple[int, ...]:
    return Tasks.get(state, verifier)


def under_dispute(state: State, provider: bytes) -> bool:
    """A provider accused of a wrong result gets no new job until the dispute
    is decided (a few blocks): a cheater stops earning at the first accusation,
    and an honest provider loses only those blocks, its accuser its bond."""
    return OpenDisputes.get(state, provider) > 0


def sample_rate(state: State, provider: bytes, base_ppm: int) -> int:
    """The chance (ppm) that a job of `provider` is re-executed."""
    history = reputation.record(state, provider)
    rep = reputation.score(state, provider)
    rate = base_ppm + base_ppm * max(NEUTRAL_REPUTATION_PPM - rep, 0) // NEUTRAL_REPUTATION_PPM
    if history.successes + history.failures < PROBATION_JOBS:
        rate = PROBATION_FACTOR * base_ppm
    return min(rate, PPM)


def _draw(ctx: Ctx, tag: bytes, job: int) -> int:
    return int.from_bytes(blake2b_256(tag + ctx.parent_hash + job.to_bytes(8, "big")), "big")


def _pick(ctx: Ctx, job: int, exclude: set[bytes], count: int) -> tuple[bytes, ...]:
    pool = [v for v in staking.Active.get(ctx.state) if v not in exclude]
    chosen: list[bytes] = []
    seed = _draw(ctx, b"vcoin-verifier", job)
    while pool and len(chosen) < count:
        chosen.append(pool.pop(seed % len(pool)))
        seed //= 1 << 16
    return tuple(chosen)


def _task(ctx: Ctx, verifier: bytes, job: int, add: bool) -> None:
    ids = Tasks.get(ctx.state, verifier)
    Tasks.put(ctx.state, verifier, (*ids, job) if add else tuple(i for i in ids if i != job))


def _schedule(ctx: Ctx, job: int, at: int) -> None:
    due = Due.get(ctx.state, at)
    if job not in due:
        Due.put(ctx.state, at, (*due, job))


def sample(ctx: Ctx, job: int, provider: bytes) -> bool:
    """Draw whether `job` is re-executed; open its check if so."""
    if Sampled.get(ctx.state, job):
        return Checks.get(ctx.state, job) is not None
    Sampled.put(ctx.state, job, 1)
    if _draw(ctx, b"vcoin-sample", job) % PPM >= sample_rate(ctx.state, provider, ctx.params.sample_rate_ppm):
        return False
    return open_check(ctx, job, provider)


def open_check(ctx: Ctx, check_id: int, provider: bytes) -> bool:
    """Open a check of `provider`'s work under `check_id` (a job id, or a
    session sample's id from `session_checks`: the two never overlap) with
    one verifier drawn from the active validators; False if there is none."""
    verifiers = _pick(ctx, check_id, {provider}, 1)
    if not verifiers:
        return False
    deadline = ctx.number + ctx.params.verify_window
    Checks.put(ctx.state, check_id, Check(check_id, provider, verifiers, (), deadline))
    _task(ctx, verifiers[0], check_id, add=True)
    _schedule(ctx, check_id, deadline)
    ctx.emit(Event.CheckOpened, job=check_id, provider=provider, verifier=verifiers[0])
    return True


@calls.add("verdict", job=amount, match=boolean)
def verdict(ctx: Ctx, origin: bytes, job: int, match: bool) -> None:
    found = Checks.get(ctx.state, job)
    if found is None or found.status not in (CheckStatus.OPEN, CheckStatus.DISPUTED):
        raise Error.NoOpenCheck("this job has no open check")
    if origin not in found.verifiers:
        raise Error.NotVerifier("you were not chosen to verify this job")
    if any(v == origin for v, _ in found.verdicts):
        raise Error.AlreadyVoted("you already gave a verdict")
    found = replace(found, verdicts=(*found.verdicts, (origin, match)))
    _task(ctx, origin, job, add=False)
    ctx.emit(Event.Verdict, job=job, verifier=origin, match=match)
    if found.status == CheckStatus.OPEN and match:
        _close(ctx, found, CheckStatus.PASSED)
    elif found.status == CheckStatus.OPEN:
        _dispute(ctx, found)
    elif len(found.verdicts) == len(found.verifiers):
        _resolve(ctx, found)
    else:
        Checks.put(ctx.state, job, found)


def dispute_known_answer(ctx: Ctx, job: int, provider: bytes, validator: bytes) -> None:
    """A known-answer job whose revealed result the validator judged wrong:
    straight to a dispute, with the validator's mismatch as the first verdict."""
    if Checks.get(ctx.state, job) is not None:
        raise Error.AlreadyChecked("this job is already being checked")
    Sampled.put(ctx.state, job, 1)
    found = Check(
        job,
        provider,
        (validator,),
        ((validator, False),),
        ctx.number,
        CheckStatus.OPEN,
        Offence.FAILED_KNOWN_ANSWER,
    )
    ctx.emit(Event.KnownAnswerFailed, job=job, provider=provider)
    _dispute(ctx, found)


def _dispute(ctx: Ctx, found: Check) -> None:
    extra = _pick(ctx, found.job, {found.provider, *found.verifiers}, DISPUTE_VERIFIERS)
    if not extra:  # nobody else to ask: one verdict never slashes
        _close(ctx, found, CheckStatus.PASSED)
        return
    for verifier in extra:
        _task(ctx, verifier, found.job, add=True)
    deadline = ctx.number + ctx.params.verify_window
    Checks.put(ctx.state, found.job, replace(found, verifiers=(*found.verifiers, *extra), status=CheckStatus.DISPUTED,
                                             deadline=deadline))  # fmt: skip
    _schedule(ctx, found.job, deadline)
    OpenDisputes.put(ctx.state, found.provider, OpenDisputes.get(ctx.state, found.provider) + 1)
    ctx.emit(Event.Disputed, job=found.job, verifiers=len(extra))


def _resolve(ctx: Ctx, found: Check) -> None:
    OpenDisputes.put(ctx.state, found.provider, OpenDisputes.get(ctx.state, found.provider) - 1)
    mismatches = sum(1 for _, match in found.verdicts if not match)
    matches = len(found.verdicts) - mismatches
    cheated = mismatches >= 2 and mismatches > matches
    for verifier, match in found.verdicts:
        # Outvoted: on the side a strict majority of answers went against.
        # An outcome that only missing answers decided (a lone mismatch, a
        # tie) proves no one wrong: a verifier is not slashed because the
        # others were late (seen on a loaded machine: an honest verifier
        # lost its bond for catching a cheat alone).
        if (match and cheated) or (not match and matches > mismatches):
            slashing.report_offence(ctx, verifier, Offence.FALSE_VERDICT)
    if cheated:
        convict(ctx, found.provider, found.offence)
    _close(ctx, found, CheckStatus.FAILED if cheated else CheckStatus.PASSED)


def convict(ctx: Ctx, provider: bytes, offence: Offence) -> None:
    """A provider proven cheating (by a dispute's majority, or by the chain
    itself): slashed, its reputation cut, its unsettled work forfeited, and
    no new work for an era."""
    slashing.report_offence(ctx, provider, offence)
    reputation.record_cheat(ctx, provider)
    Cheated.put(ctx.state, provider, ctx.number)
    registry.chill(ctx, provider, ctx.number + ctx.params.era_length)


def _close(ctx: Ctx, found: Check, status: CheckStatus) -> None:
    for verifier in found.verifiers:
        _task(ctx, verifier, found.job, add=False)
    Checks.put(ctx.state, found.job, replace(found, status=status))
    ctx.emit(Event.CheckClosed, job=found.job, status=status)


def on_finalize(ctx: Ctx) -> None:
    for job in Due.get(ctx.state, ctx.number):
        found = Checks.get(ctx.state, job)
        if found is None or found.deadline != ctx.number:
            continue
        if found.status == CheckStatus.OPEN:
            _close(ctx, found, CheckStatus.EXPIRED)
        elif found.status == CheckStatus.DISPUTED:
            _resolve(ctx, found)
    Due.put(ctx.state, ctx.number, ())


def cheated_since(state: State, provider: bytes, block: int) -> bool:
    """Was `provider` proven cheating at or after `block`?"""
    last = Cheated.get(state, provider)
    return last > 0 and last >= block


def outcome(state: State, job: int) -> CheckStatus | None:
    """None if the job was never checked, OPEN while its check (or dispute)
    is open, else how the check closed."""
    found = Checks.get(state, job)
    if found is None:
        return None
    return CheckStatus.OPEN if found.status in (CheckStatus.OPEN, CheckStatus.DISPUTED) else found.status


def rewarded_verifiers(state: State, job: int) -> tuple[bytes, ...]:
    """The verifiers who re-executed the job and agreed with the outcome."""
    found = Checks.get(state, job)
    if found is None or found.status not in (CheckStatus.PASSED, CheckStatus.FAILED):
        return ()
    want = found.status == CheckStatus.PASSED
    return tuple(v for v, match in found.verdicts if match == want)
