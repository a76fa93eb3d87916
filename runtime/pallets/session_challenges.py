"""`sessions.challenge`: a session's opener makes its provider publish one
leaf of a settled batch, checked exactly like a sampled leaf.

    challenge{session, seq}

Sampling draws leaves the provider cannot predict; a challenge names one the
user has a reason to doubt (a validator's known-answer session whose answer
was wrong, `offchain.known_answer_sessions`; any user who got garbage). The
provider cannot deny the request: the cheque it settled binds the request's
hash, and the leaf its result's.

The leaf is found by its seq: the desk logs request `seq` as leaf `seq - 1`
(seqs count from 1, one leaf each, in order), so the leaf `seq - 1` must lie
in a settled batch still kept (`[first, count)` of one of the session's last
`MAX_SESSION_BATCHES` batches). The challenge opens an audit of that leaf
alone (`session_audits.start_publication`), keyed
`(session, CHALLENGE_BATCH + leaf)`: the provider publishes it with
`sessions.publish` within `SESSION_PUBLISH_WINDOW` blocks, and it is
slashed as for a sampled leaf (missed: 5%; units not the request's, or a
mismatch proven by the check's dispute: 20%). A challenge moves no money:
the batch was paid, and its own audit verified or refunded it; the opener
pays the challenge's transaction fee (weight in `runtime.weights`), which
is enough as each batch takes at most `MAX_CHALLENGES_PER_BATCH`
challenges, each leaf at most one. The session's end waits for open
challenges as for its batches' audits; a challenge of a session that has
ended (removed) is refused, one while its end is held by audits is not.
"""

from runtime.constants import MAX_CHALLENGES_PER_BATCH, SESSION_PUBLISH_WINDOW
from runtime.context import Ctx
from runtime.dispatch import Calls, amount
from runtime.pallets.session_audits import start_publication
from runtime.pallets.session_records import CHALLENGE_BATCH, Audit, AuditPhase, Challenged
from runtime.pallets.session_types import PALLET, Error, Event, Sessions, batch_key, batches

calls = Calls(PALLET)


@calls.add("challenge", session=amount, seq=amount)
def challenge(ctx: Ctx, origin: bytes, session: int, seq: int) -> None:
    found = Sessions.get(ctx.state, session)
    if found is None:
        raise Error.UnknownSession(f"no session {session} (never opened, or ended)")
    if origin != found.user:
        raise Error.NotOpener("only the session's opener challenges its leaves")
    index = seq - 1  # the desk logs request seq as leaf seq - 1
    target = next((b for b in batches(ctx.state, session) if b.first <= index < b.count), None)
    if seq == 0 or target is None:
        raise Error.NotSettled(f"seq {seq} is in no settled batch of session {session} still kept")
    key = batch_key(session, target.index)
    taken = Challenged.get(ctx.state, key)
    if index in taken:
        raise Error.AlreadyChallenged(f"seq {seq} was challenged already")
    if len(taken) >= MAX_CHALLENGES_PER_BATCH:
        raise Error.TooManyChallenges(f"a batch takes at most {MAX_CHALLENGES_PER_BATCH} challenges")
    Challenged.put(ctx.state, key, tuple(sorted((*taken, index))))
    publish_by = ctx.number + SESSION_PUBLISH_WINDOW
    start_publication(ctx, Audit(session, CHALLENGE_BATCH + index, found.provider, found.user, found.model,
                                 target.log_root, target.first, target.count, 0, 0, 0, ctx.number,
                                 phase=AuditPhase.PUBLISH, leaves=(index,), checks=(0,),
                                 publish_by=publish_by))  # fmt: skip
    ctx.emit(Event.Challenged, session=session, batch=target.index, leaf=index, seq=seq, by=origin,
             provider=found.provider, publish_by=publish_by)  # fmt: skip
