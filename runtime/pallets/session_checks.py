"""`sessions.publish`: a provider shows sampled (or challenged) leaves of
its settled batches, and each becomes a verification check like a job's.

    publish{session, items: [{index, seq, request, result, units, proof}, ...]}

One call carries every leaf the provider owes for a session (1 to
`MAX_SAMPLED_LEAVES` items; `offchain.session_publisher` splits only what
would not fit `MAX_EXTRINSIC_BYTES`), so the chain's cost grows with the
batches, not with the samples. `index` is a leaf's index in the session's
request log, `proof` its Merkle path (`runtime.session_log.proof`) to its
batch's settled root over the batch's `count` leaves. For each item the
chain checks that the leaf `H(seq || H(request) || H(result) || units)` is
in that root, that the request is a well-formed request of the session
model's kind (`runtime.session_request.parse_request`) and that `units` is
what the request costs by the jobs' rule (`job_rules.work_units`). A leaf
whose units are not its request's is proof of overcharging without any
re-execution: the provider is convicted at once (the mismatch slash).
Otherwise the leaf's check opens in `verification` under a check id from
`SESSION_CHECK_IDS` up, drawn, disputed and decided by majority exactly as
a job's; the assigned verifiers read the published request and result from
`sample(state, id)`.

Items are judged one by one: the valid ones are published, each invalid one
is refused with a `PublicationRefused` event naming its error (a resend
that crosses an earlier inclusion, one leaf the provider cannot show, must
not hold back the others). The call fails, with the first item's error,
only when no item is valid.
"""

from dataclasses import replace
from typing import Any

from runtime.codec import blake2b_256
from runtime.constants import (
    MAX_EXTRINSIC_BYTES,
    MAX_PUBLISHED_REQUEST,
    MAX_PUBLISHED_RESULT,
    MAX_SAMPLED_LEAVES,
    SESSION_CHECK_IDS,
)
from runtime.context import Ctx
from runtime.dispatch import Calls, amount, blob
from runtime.errors import DispatchError
from runtime.pallets import registry, verification
from runtime.pallets.session_audits import published
from runtime.pallets.session_records import Audit, Audits, NextCheck, Owed, Sample, Samples
from runtime.pallets.session_types import PALLET, Error, Event, Sessions, batch_key
from runtime.pallets.slashing import Offence
from runtime.session_log import MAX_PROOF_DEPTH, leaf, verify_proof
from runtime.session_request import parse_request
from runtime.state import State

calls = Calls(PALLET)


def is_session_check(check_id: int) -> bool:
    return check_id >= SESSION_CHECK_IDS


def sample(state: State, check_id: int) -> Sample | None:
    """A published session sample under check, by its check id."""
    return Samples.get(state, check_id)


def proof_arg(value: Any) -> bool:
    """The argument checker of a Merkle path: up to MAX_PROOF_DEPTH 32-byte hashes."""
    return (
        type(value) is list and len(value) <= MAX_PROOF_DEPTH
        and all(type(h) is bytes and len(h) == 32 for h in value)
    )  # fmt: skip


def _owed(state: State, provider: bytes, session: int, index: int) -> Audit:
    """The first of the provider's audits that owes leaf `index` of the session
    unpublished (a leaf both sampled and challenged is owed twice)."""
    seen = False
    for key in Owed.get(state, provider):
        found = Audits.get(state, key)
        if found is None or found.session != session:
            continue
        for leaf_index, check in zip(found.leaves, found.checks, strict=True):
            if leaf_index == index:
                if not check:
                    return found
                seen = True
    if seen:
        raise Error.AlreadyPublished(f"leaf {index} is already under check")
    raise Error.NotSampled(f"leaf {index} of session {session} is not sampled, or its batch cleared")


ITEM_FIELDS = frozenset({"index", "seq", "request", "result", "units", "proof"})


def item_arg(value: Any) -> bool:
    """The argument checker of one published leaf: {index, seq, request, result, units, proof}."""
    return (
        type(value) is dict and set(value) == ITEM_FIELDS
        and all(amount(value[k]) for k in ("index", "seq", "units"))
        and all(blob(MAX_EXTRINSIC_BYTES)(value[k]) for k in ("request", "result"))
        and proof_arg(value["proof"])
    )  # fmt: skip


def items_arg(value: Any) -> bool:
    return type(value) is list and 1 <= len(value) <= MAX_SAMPLED_LEAVES and all(item_arg(v) for v in value)


@calls.add("publish", session=amount, items=items_arg)
def publish(ctx: Ctx, origin: bytes, session: int, items: list[dict[str, Any]]) -> None:
    found_session = Sessions.get(ctx.state, session)
    if found_session is None:
        raise Error.UnknownSession(f"no session {session} (never opened, or ended)")
    if origin != found_session.provider:
        raise Error.NotProvider("only the session's provider publishes its samples")
    model = registry.model(ctx.state, found_session.model)
    if model is None:  # models are never removed; kept for the type
        raise Error.UnknownModel("the session's model is not registered")
    first: DispatchError | None = None
    accepted = 0
    for item in items:
        try:
            _publish_one(ctx, origin, session, model, item)
        except DispatchError as err:
            first = first or err
            ctx.emit(Event.PublicationRefused, session=session, leaf=item["index"], provider=origin,
                     error=f"{err.pallet}.{err.error}", detail=err.detail)  # fmt: skip
        else:
            accepted += 1
    if not accepted and first is not None:
        raise first


def _publish_one(ctx: Ctx, origin: bytes, session: int, model: registry.Model, item: dict[str, Any]) -> None:
    """One leaf: every check first, then (and only then) the state changes."""
    index, seq, request, result, units = (item[k] for k in ("index", "seq", "request", "result", "units"))
    found = _owed(ctx.state, origin, session, index)
    position = next(p for p, (i, c) in enumerate(zip(found.leaves, found.checks, strict=True))
                    if i == index and not c)  # fmt: skip
    if ctx.number > found.publish_by:
        raise Error.TooLate(f"the publication window closed at block {found.publish_by}")
    if len(request) > MAX_PUBLISHED_REQUEST or len(result) > MAX_PUBLISHED_RESULT:
        raise Error.TooLarge(
            f"a request is at most {MAX_PUBLISHED_REQUEST} bytes, a result {MAX_PUBLISHED_RESULT}"
        )
    if not verify_proof(found.log_root, leaf(seq, blake2b_256(request), blake2b_256(result), units), index,
                        found.count, item["proof"]):  # fmt: skip
        raise Error.BadProof(f"not leaf {index} of the batch's root over {found.count} leaves")
    try:
        parsed = parse_request(request, model.kind)
    except ValueError as exc:
        raise Error.BadRequest(str(exc)) from None
    check_id = SESSION_CHECK_IDS + NextCheck.get(ctx.state)
    NextCheck.put(ctx.state, NextCheck.get(ctx.state) + 1)
    Samples.put(ctx.state, check_id, Sample(check_id, session, found.batch, index, origin, found.model, seq,
                                            request, result, units))  # fmt: skip
    checks = found.checks[:position] + (check_id,) + found.checks[position + 1 :]
    found = replace(found, checks=checks)
    key = batch_key(session, found.batch)
    ctx.emit(Event.SamplePublished, session=session, batch=found.batch, leaf=index, provider=origin,
             check=check_id)  # fmt: skip
    expected = parsed.units(model.params_millions)
    if units != expected:  # the provider logged (and was paid for) other units than the request costs
        verification.convict(ctx, origin, Offence.MISMATCH)
        ctx.emit(Event.UnitsMismatch, session=session, leaf=index, provider=origin, units=units,
                 expected=expected)  # fmt: skip
        published(ctx, replace(found, failure="units"))
        return
    verification.open_check(ctx, check_id, origin)  # no validator to draw: unchecked, like a job's
    if all(found.checks):
        published(ctx, found)
    else:
        Audits.put(ctx.state, key, found)
