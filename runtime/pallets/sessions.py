"""Sessions: prepaid request/response serving, settled in batches.

    open -> (settle ...) -> close or expiry -> last settles (CLOSE_WINDOW) -> ended: refund

`sessions.open` reserves a deposit from the opener with a provider of a
model, chosen like a job's (`job_assignment.pick`: stake x reputation among
the online, bonded providers of the model that fit the price and reputation
floor and are not under dispute) unless the opener names one, at the
provider's price per work unit, fixed for the session's life. Requests
travel off chain, each with a `Cheque` signed by the session's key over
`runtime.types.cheque_payload` (chain id, session, seq, cumulative units,
request hash). The provider logs each request as a leaf of the session's
Merkle log and settles `(log root, count, latest cheque)` at most once every
`SESSION_SETTLE_INTERVAL` blocks (every `SESSION_YOUNG_SETTLE_INTERVAL` for
its first `SESSION_YOUNG_BATCHES`: see `next_settle`): the chain pays the units added since the
last settle by the jobs' rule (`job_settlement.settle`: burn, the rest to
the provider, the verifiers' share held until the batch is verified) and
audits the batch (`session_audits`: sampled leaves, published by the provider
with `publish` (`session_checks`) and checked like jobs; the batch's work
units reach emission only once it is verified, and a rejected batch is
refunded; the opener may also challenge a leaf of a settled batch,
`session_challenges`). A cheque is settled at most once (seq strictly increases, units
never decrease) and never above the deposit.

Either side may close; the provider may still settle until `ends_at`
(`SESSION_CLOSE_WINDOW` blocks after the close or the expiry, whichever is
first; one settle in that window skips the interval), and the session's
end, in that block's `on_finalize` (or, while an audit of its batches is
open, after the last one clears), refunds the unused deposit to the opener
and removes the session. Every base unit of a deposit is paid,
burned, sent to verifiers (the treasury while none) or refunded.
"""

from dataclasses import replace
from typing import Any

from runtime.codec import blake2b_256
from runtime.constants import (
    MAX_BATCH_LEAVES,
    MAX_SESSION_BATCHES,
    MAX_SESSION_BLOCKS,
    MAX_SESSION_ENDS_PER_BLOCK,
    MAX_SESSIONS_PER_ACCOUNT,
    MAX_SESSIONS_PER_PROVIDER,
    PPM,
    SESSION_SETTLE_INTERVAL,
    SESSION_YOUNG_BATCHES,
    SESSION_YOUNG_SETTLE_INTERVAL,
    ppm_of,
)
from runtime.context import Ctx
from runtime.dispatch import Calls, amount, blob, hash32, u32
from runtime.pallets import balances, registry, session_audits, verification
from runtime.pallets.job_assignment import Offer, offers, pick
from runtime.pallets.job_settlement import refund
from runtime.pallets.job_settlement import settle as pay
from runtime.pallets.session_records import Audit, Challenged
from runtime.pallets.session_types import PALLET as PALLET
from runtime.pallets.session_types import Batch as Batch
from runtime.pallets.session_types import Batches as Batches
from runtime.pallets.session_types import Cheque as Cheque
from runtime.pallets.session_types import Due as Due
from runtime.pallets.session_types import Error as Error
from runtime.pallets.session_types import Event as Event
from runtime.pallets.session_types import NextId as NextId
from runtime.pallets.session_types import OpenedBy as OpenedBy
from runtime.pallets.session_types import ServedBy as ServedBy
from runtime.pallets.session_types import Session as Session
from runtime.pallets.session_types import Sessions as Sessions
from runtime.pallets.session_types import SessionStatus as SessionStatus
from runtime.pallets.session_types import batch as batch
from runtime.pallets.session_types import batch_key, cheque_arg, due, schedule, set_due
from runtime.pallets.session_types import batches as batches
from runtime.pallets.session_types import session as session
from runtime.state import State

calls = Calls(PALLET)


def opened_by(state: State, who: bytes) -> tuple[int, ...]:
    return OpenedBy.get(state, who)


def served_by(state: State, who: bytes) -> tuple[int, ...]:
    return ServedBy.get(state, who)


def _unfit(ctx: Ctx, offer: Offer, max_price: int, min_reputation: int) -> Error | None:
    """Why a provider of the model cannot take a session now, or None."""
    if offer.price > max_price:
        return Error.PriceTooHigh
    if offer.score < min_reputation:
        return Error.ReputationTooLow
    if verification.under_dispute(ctx.state, offer.who):
        return Error.ProviderBusy
    if len(ServedBy.get(ctx.state, offer.who)) >= MAX_SESSIONS_PER_PROVIDER:
        return Error.ProviderBusy
    return None


def _choose(
    ctx: Ctx, opener: bytes, session_id: int, model: bytes, named: bytes, max_price: int, min_reputation: int
) -> Offer:
    # online and bonded providers of the model, the opener aside
    pool = [o for o in offers(ctx, model, now=False) if o.who != opener]
    if named:
        offer = next((o for o in pool if o.who == named), None)
        if offer is None:
            raise Error.NotServing("not an online, bonded provider of this model")
        reason = _unfit(ctx, offer, max_price, min_reputation)
        if reason is not None:
            raise reason(f"price {offer.price}, reputation {offer.score}")
        return offer
    seed = blake2b_256(b"vcoin-session" + ctx.parent_hash + session_id.to_bytes(8, "big"))
    chosen = pick([o for o in pool if _unfit(ctx, o, max_price, min_reputation) is None], seed)
    if chosen is None:
        raise Error.NoProvider("no provider of this model fits the price and reputation asked")
    return chosen


@calls.add(
    "open", model=hash32, provider=blob(32), deposit=amount, max_price=amount, min_reputation=u32,
    expiry=u32, session_key=blob(32),
)  # fmt: skip
def open_session(
    ctx: Ctx, origin: bytes, model: bytes, provider: bytes, deposit: int, max_price: int,
    min_reputation: int, expiry: int, session_key: bytes,
) -> None:  # fmt: skip
    if registry.model(ctx.state, model) is None:
        raise Error.UnknownModel("no registered model has this hash")
    if len(provider) not in (0, 32) or len(session_key) not in (0, 32):
        raise Error.BadKey("the provider and the session key are 32 bytes, or empty")
    if provider == origin:
        raise Error.SelfDealing("a provider does not open sessions with itself")
    if min_reputation > PPM:
        raise Error.BadSla("the minimum reputation is at most 1,000,000 ppm")
    if not ctx.number < expiry <= ctx.number + MAX_SESSION_BLOCKS:
        raise Error.BadExpiry(f"the expiry is a block after this one, at most {MAX_SESSION_BLOCKS} ahead")
    mine = OpenedBy.get(ctx.state, origin)
    if len(mine) >= MAX_SESSIONS_PER_ACCOUNT:
        raise Error.TooManySessions(f"an account has at most {MAX_SESSIONS_PER_ACCOUNT} sessions")
    session_id = NextId.get(ctx.state)
    chosen = _choose(ctx, origin, session_id, model, provider, max_price, min_reputation)
    if deposit < max(chosen.price, 1):
        raise Error.DepositTooLow(f"the deposit pays at least one work unit ({chosen.price})")
    balances.reserve(ctx, origin, deposit)
    NextId.put(ctx.state, session_id + 1)
    created = Session(
        session_id,
        origin,
        chosen.who,
        model,
        session_key or origin,
        deposit,
        chosen.price,
        expiry,
        ctx.number,
    )
    Sessions.put(ctx.state, session_id, created)
    OpenedBy.put(ctx.state, origin, (*mine, session_id))
    ServedBy.put(ctx.state, chosen.who, (*ServedBy.get(ctx.state, chosen.who), session_id))
    schedule(ctx, session_id, created.ends_at)
    ctx.emit(Event.Opened, session=session_id, who=origin, provider=chosen.who, model=model,
             deposit=deposit, price=chosen.price, expiry=expiry)  # fmt: skip


def next_settle(found: Session) -> int:
    """The first block a settle after the session's last may be in (the
    closing one excepted): sooner while the session is young."""
    young = found.batches < SESSION_YOUNG_BATCHES
    return found.settled_at + (SESSION_YOUNG_SETTLE_INTERVAL if young else SESSION_SETTLE_INTERVAL)


def _live(state: State, session_id: int) -> Session:
    found = Sessions.get(state, session_id)
    if found is None:
        raise Error.UnknownSession(f"no session {session_id} (never opened, or ended)")
    return found


@calls.add("settle", session=amount, log_root=hash32, count=amount, cheque=cheque_arg)
def settle(
    ctx: Ctx, origin: bytes, session: int, log_root: bytes, count: int, cheque: dict[str, Any]
) -> None:
    found = _live(ctx.state, session)
    if origin != found.provider:
        raise Error.NotProvider("only the session's provider settles it")
    if ctx.number > found.ends_at:
        raise Error.Ended(f"the last settle window closed at block {found.ends_at}")
    last_call = ctx.number >= found.window_start and found.settled_at < found.window_start
    if found.batches and ctx.number < next_settle(found) and not last_call:
        raise Error.TooSoon(f"the next settle is from block {next_settle(found)}")
    signed = Cheque.from_arg(cheque)  # its shape was checked by `cheque_arg`
    if signed.seq <= found.seq or signed.units < found.units:
        raise Error.StaleCheque(f"settled up to seq {found.seq} and {found.units} units")
    if signed.units * found.price > found.deposit:
        raise Error.OverDeposit(f"{signed.units} units at {found.price} exceed the deposit {found.deposit}")
    if not found.count < count <= signed.seq or count - found.count > MAX_BATCH_LEAVES:
        raise Error.BadCount(
            f"the log grows from {found.count} leaves by 1 to {MAX_BATCH_LEAVES}, up to the seq"
        )
    if not signed.verify(ctx.chain_id, session, found.key):
        raise Error.BadSignature("the cheque is not signed by the session's key")
    units = signed.units - found.units
    # No work units to emission yet: emission pays verified work, credited when
    # the batch's audit clears (two colluding accounts could otherwise farm
    # emission for 20% of a fee). The verifiers' share is held in the
    # provider's reserved balance until then (the provider stands in for them here).
    fee = pay(ctx, found.user, found.provider, units * found.price, units * found.price, 0, (found.provider,))
    held = ppm_of(fee, ctx.params.verifier_share_ppm)
    balances.reserve(ctx, found.provider, held)
    index = found.batches
    Batches.put(ctx.state, batch_key(session, index),
                Batch(session, index, log_root, found.count, count, units, signed.seq, ctx.number))  # fmt: skip
    session_audits.start(ctx, Audit(session, index, found.provider, found.user, found.model, log_root,
                                    found.count, count, units, fee, held, ctx.number))  # fmt: skip
    if index >= MAX_SESSION_BATCHES:
        Batches.remove(ctx.state, batch_key(session, index - MAX_SESSION_BATCHES))
        Challenged.remove(ctx.state, batch_key(session, index - MAX_SESSION_BATCHES))
    Sessions.put(ctx.state, session, replace(found, seq=signed.seq, units=signed.units, paid=found.paid + fee,
                                             count=count, batches=index + 1, settled_at=ctx.number))  # fmt: skip
    ctx.emit(
        Event.Settled, session=session, provider=origin, batch=index, seq=signed.seq, units=units, fee=fee
    )


@calls.add("close", session=amount)
def close(ctx: Ctx, origin: bytes, session: int) -> None:
    found = _live(ctx.state, session)
    if origin not in (found.user, found.provider):
        raise Error.NotParty("only the session's opener or provider closes it")
    if found.status == SessionStatus.CLOSING:
        raise Error.AlreadyClosing(f"the session ends at block {found.ends_at}")
    closing = replace(found, status=SessionStatus.CLOSING, closed_at=ctx.number)
    Sessions.put(ctx.state, session, closing)
    schedule(ctx, session, closing.ends_at)
    ctx.emit(Event.Closing, session=session, by=origin, ends_at=closing.ends_at)


def _end(ctx: Ctx, found: Session) -> None:
    refunded = found.deposit - found.paid
    refund(ctx, found.user, refunded)
    for index in range(max(0, found.batches - MAX_SESSION_BATCHES), found.batches):
        Batches.remove(ctx.state, batch_key(found.id, index))
        Challenged.remove(ctx.state, batch_key(found.id, index))
    OpenedBy.put(
        ctx.state, found.user, tuple(i for i in OpenedBy.get(ctx.state, found.user) if i != found.id)
    )
    ServedBy.put(ctx.state, found.provider,
                 tuple(i for i in ServedBy.get(ctx.state, found.provider) if i != found.id))  # fmt: skip
    Sessions.remove(ctx.state, found.id)
    ctx.emit(Event.Ended, session=found.id, who=found.user, provider=found.provider, paid=found.paid,
             refunded=refunded)  # fmt: skip


def on_finalize(ctx: Ctx) -> None:
    """Step the batches' audits due (`session_audits`), then end the sessions
    whose last settle window closes in this block and whose audits have all
    cleared (at most `MAX_SESSION_ENDS_PER_BLOCK`; the rest wait for the next block)."""
    session_audits.on_finalize(ctx)
    ids = due(ctx.state, ctx.number)
    if not ids:
        return
    Due.remove(ctx.state, ctx.number)
    now, later = ids[:MAX_SESSION_ENDS_PER_BLOCK], ids[MAX_SESSION_ENDS_PER_BLOCK:]
    if later:
        set_due(ctx, ctx.number + 1, [*due(ctx.state, ctx.number + 1), *later])
    for session_id in now:
        found = Sessions.get(ctx.state, session_id)
        # None: ended by an earlier timer; held: the last audit to clear schedules the end
        if (
            found is not None
            and ctx.number >= found.ends_at
            and not session_audits.holding(ctx.state, session_id)
        ):
            _end(ctx, found)
