"""Sampled verification of a session's settled batches (part of the
sessions pallet), from the settle to the batch's clearance:

    settle -> draw (SAMPLE_DELAY blocks later) -> publish (SESSION_PUBLISH_WINDOW)
           -> checks (verification) -> cleared: verified, or rejected

Each settle opens an audit of its batch. `SAMPLE_DELAY` blocks later the
parent block's hash (a block after the settle's, which the provider could not
grind) draws leaves of the batch at the provider's `verification.sample_rate`:
`count x rate` leaves in expectation, the fraction drawn as a chance, so a
batch smaller than 1/rate is sampled with the right probability, and at most
`MAX_SAMPLED_LEAVES`. The provider publishes each sampled leaf's request and
result (`session_checks.publish`), which opens a check exactly like a job's.
A leaf not published in time is slashed like a missed reveal.

At settle the provider was paid (80%), the burn burned (15%), and the
verifiers' share (5%) was held in the provider's reserved balance. When every
check has closed the batch clears:

- verified (no sample drawn, or every check passed or expired): the held share
  goes to the verifiers who agreed with the outcome (the treasury when none),
  and the batch's work units are credited to emission;
- rejected (a mismatch proven by a dispute or by the units, a missed
  publication, or any proven cheat of the provider's since the settle): the
  user is refunded the batch's fee, the held share first, the rest from the
  provider's free balance (as far as it goes), and nothing goes to emission.

The opener's challenge of one leaf (`session_challenges`) opens an audit
of that leaf alone, straight in the publication phase: published and checked
like a sampled leaf, with the same slashes, but it moves no money when it
clears (the batch's own audit did).

A session's end waits while any audit of its batches is open (bounded: an
audit lives at most the delay, the window and a check's and a dispute's
`verify_window`); the last audit to clear schedules the end.
"""

from dataclasses import replace

from runtime.codec import blake2b_256
from runtime.constants import (
    MAX_AUDITS_PER_BLOCK,
    MAX_SAMPLED_LEAVES,
    PPM,
    SAMPLE_DELAY,
    SESSION_PUBLISH_WINDOW,
)
from runtime.context import Ctx
from runtime.pallets import balances, emission, reputation, slashing, treasury, verification
from runtime.pallets.session_records import Audit as Audit
from runtime.pallets.session_records import AuditDue, Audits, OpenAudits, Owed, Samples, is_challenge
from runtime.pallets.session_records import AuditPhase as AuditPhase
from runtime.pallets.session_types import Event, Sessions, batch_key, schedule
from runtime.pallets.slashing import Offence
from runtime.state import State
from runtime.storage import sorted_insert, sorted_remove

KEY = 16  # bytes of a batch key: (session, index), two 8-byte big-endian numbers


def audit(state: State, session_id: int, index: int) -> Audit | None:
    return Audits.get(state, batch_key(session_id, index))


def holding(state: State, session_id: int) -> bool:
    """Is the session's end held by an audit of one of its batches?"""
    return OpenAudits.get(state, session_id) > 0


def owed(state: State, provider: bytes) -> list[Audit]:
    """The provider's audits whose sampled leaves are (partly) still to publish."""
    return [a for key in Owed.get(state, provider) if (a := Audits.get(state, key)) is not None]


def withholding(state: State, provider: bytes, now: int, grace: int) -> bool:
    """Has the provider left a sampled (or challenged) leaf unpublished for
    more than `grace` blocks of its window? Its slash waits for the window's
    end; a client need not keep sending it requests until then."""
    return any(
        a.phase == AuditPhase.PUBLISH and now - (a.publish_by - SESSION_PUBLISH_WINDOW) > grace
        for a in owed(state, provider)
    )


def due(state: State, at: int) -> list[bytes]:
    run = AuditDue.get(state, at)
    return [run[i : i + KEY] for i in range(0, len(run), KEY)]


def schedule_audit(ctx: Ctx, key: bytes, at: int) -> None:
    AuditDue.put(ctx.state, at, b"".join(sorted({*due(ctx.state, at), key})))


def start(ctx: Ctx, found: Audit) -> None:
    """Open the audit of a batch just settled; its draw comes SAMPLE_DELAY blocks later."""
    key = batch_key(found.session, found.batch)
    Audits.put(ctx.state, key, found)
    OpenAudits.put(ctx.state, found.session, OpenAudits.get(ctx.state, found.session) + 1)
    schedule_audit(ctx, key, ctx.number + SAMPLE_DELAY)


def start_publication(ctx: Ctx, found: Audit) -> None:
    """Open an audit already in its publication phase (a challenged leaf)."""
    key = batch_key(found.session, found.batch)
    Audits.put(ctx.state, key, found)
    OpenAudits.put(ctx.state, found.session, OpenAudits.get(ctx.state, found.session) + 1)
    _owe(ctx, found, add=True)
    schedule_audit(ctx, key, found.publish_by + 1)


def draw(ctx: Ctx, found: Audit) -> tuple[int, ...]:
    """The sampled leaf indices of a batch, from the parent block's hash."""
    leaves = found.count - found.first
    rate = verification.sample_rate(ctx.state, found.provider, ctx.params.sample_rate_ppm)
    seed = blake2b_256(b"vcoin-session-sample" + ctx.parent_hash + batch_key(found.session, found.batch))
    expected = leaves * rate  # ppm of a leaf
    chance = int.from_bytes(seed[:8], "big") % PPM
    wanted = min(expected // PPM + (1 if chance < expected % PPM else 0), MAX_SAMPLED_LEAVES, leaves)
    picked: list[int] = []
    for n in range(wanted):  # without replacement: the r-th leaf not yet picked
        r = int.from_bytes(blake2b_256(seed + n.to_bytes(2, "big")), "big") % (leaves - n)
        for taken in sorted(picked):
            if taken <= r:
                r += 1
        picked.append(r)
    return tuple(sorted(found.first + r for r in picked))


def _owe(ctx: Ctx, found: Audit, add: bool) -> None:
    key, keys = batch_key(found.session, found.batch), Owed.get(ctx.state, found.provider)
    Owed.put(ctx.state, found.provider, sorted_insert(keys, key) if add else sorted_remove(keys, key))


def published(ctx: Ctx, found: Audit) -> None:
    """Every sampled leaf of `found` is published (or the provider is already
    proven at fault): on to the checks, looked at next block."""
    found = replace(found, phase=AuditPhase.CHECK)
    Audits.put(ctx.state, batch_key(found.session, found.batch), found)
    _owe(ctx, found, add=False)
    schedule_audit(ctx, batch_key(found.session, found.batch), ctx.number + 1)


def _step(ctx: Ctx, key: bytes, found: Audit) -> None:
    if found.phase == AuditPhase.DRAW:
        if ctx.number < found.at + SAMPLE_DELAY:
            schedule_audit(ctx, key, found.at + SAMPLE_DELAY)
            return
        leaves = draw(ctx, found)
        if not leaves:
            _clear(ctx, key, found)
            return
        found = replace(found, phase=AuditPhase.PUBLISH, leaves=leaves, checks=(0,) * len(leaves),
                        publish_by=ctx.number + SESSION_PUBLISH_WINDOW)  # fmt: skip
        Audits.put(ctx.state, key, found)
        _owe(ctx, found, add=True)
        schedule_audit(ctx, key, found.publish_by + 1)
        ctx.emit(Event.BatchSampled, session=found.session, batch=found.batch, provider=found.provider,
                 leaves=list(leaves), publish_by=found.publish_by)  # fmt: skip
        return
    if found.phase == AuditPhase.PUBLISH:
        if ctx.number <= found.publish_by:
            return  # an earlier timer; the window's end has its own
        missing = [leaf for leaf, check in zip(found.leaves, found.checks, strict=True) if not check]
        slashing.report_offence(ctx, found.provider, Offence.MISSED_REVEAL)
        reputation.record_failure(ctx, found.provider)
        ctx.emit(Event.PublicationMissed, session=found.session, batch=found.batch, provider=found.provider,
                 leaves=missing)  # fmt: skip
        found = replace(found, phase=AuditPhase.CHECK, failure="missed")
        Audits.put(ctx.state, key, found)
        _owe(ctx, found, add=False)
    if any(verification.outcome(ctx.state, c) == verification.CheckStatus.OPEN for c in found.checks if c):
        schedule_audit(ctx, key, ctx.number + 1)  # looked at each block, as a job waits for its check
        return
    _clear(ctx, key, found)


def _clear(ctx: Ctx, key: bytes, found: Audit) -> None:
    checks = [c for c in found.checks if c]
    outcomes = [verification.outcome(ctx.state, c) for c in checks]
    if is_challenge(found):
        _clear_challenge(
            ctx, key, found, checks, "mismatch" if verification.CheckStatus.FAILED in outcomes else ""
        )
        return
    reason = found.failure or (
        "mismatch" if verification.CheckStatus.FAILED in outcomes
        else "forfeited" if verification.cheated_since(ctx.state, found.provider, found.at)
        else ""
    )  # fmt: skip
    held = balances.take_reserved(ctx, found.provider, found.held)
    if reason:
        extra = min(balances.get(ctx.state, found.provider).free, found.fee - held)
        if extra > 0:
            balances.withdraw(ctx, found.provider, extra)
        balances.deposit(ctx, found.user, held + extra)
        ctx.emit(Event.BatchRejected, session=found.session, batch=found.batch, provider=found.provider,
                 refunded=held + extra, reason=reason)  # fmt: skip
    else:
        verifiers = [v for c in checks for v in verification.rewarded_verifiers(ctx.state, c)]
        each = held // len(verifiers) if verifiers else 0
        for verifier in verifiers:
            balances.deposit(ctx, verifier, each)
        treasury.receive(ctx, held - each * len(verifiers), "verifier share")
        if found.units > 0:
            emission.report_work(ctx, found.provider, found.units)
        # a verified batch counts as a delivered job: a provider that only
        # serves sessions leaves probation (3x sampling) like one serving jobs
        reputation.record_success(ctx, found.provider, fast=False)
        ctx.emit(Event.BatchVerified, session=found.session, batch=found.batch, provider=found.provider,
                 units=found.units, sampled=len(found.leaves))  # fmt: skip
    _done(ctx, key, found, checks)


def _clear_challenge(ctx: Ctx, key: bytes, found: Audit, checks: list[int], mismatch: str) -> None:
    """A challenged leaf's audit clears: its batch was paid (and its own audit
    settled the batch's money), so nothing is paid or refunded here; a
    provider at fault was already slashed (missed: here in `_step`;
    mismatch: by the dispute; units: at publication)."""
    reason = found.failure or mismatch
    ctx.emit(Event.ChallengeCleared, session=found.session, leaf=found.leaves[0], provider=found.provider,
             user=found.user, reason=reason or "verified")  # fmt: skip
    _done(ctx, key, found, checks)


def _done(ctx: Ctx, key: bytes, found: Audit, checks: list[int]) -> None:
    Audits.remove(ctx.state, key)
    for check_id in checks:
        Samples.remove(ctx.state, check_id)
    left = OpenAudits.get(ctx.state, found.session) - 1
    OpenAudits.put(ctx.state, found.session, left)
    session = Sessions.get(ctx.state, found.session)
    if left == 0 and session is not None and ctx.number >= session.ends_at:
        schedule(ctx, found.session, ctx.number + 1)  # its end was held for this audit


def on_finalize(ctx: Ctx) -> None:
    """Draw, close the publication windows of, and clear the audits due in
    this block (at most MAX_AUDITS_PER_BLOCK; the rest wait a block)."""
    keys = due(ctx.state, ctx.number)
    if not keys:
        return
    AuditDue.remove(ctx.state, ctx.number)
    now, later = keys[:MAX_AUDITS_PER_BLOCK], keys[MAX_AUDITS_PER_BLOCK:]
    for key in later:
        schedule_audit(ctx, key, ctx.number + 1)
    for key in now:
        found = Audits.get(ctx.state, key)
        if found is not None:
            _step(ctx, key, found)
