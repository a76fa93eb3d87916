"""Group jobs (part of the jobs pallet): one LoRA job spread over K providers
(`providers` > 1 in its options), trained in DiLoCo rounds
(`agent.kinds.dlora`; docs/distributed-lora.md).

A group is K member jobs with consecutive ids, created together by one
`submit`: member 0, the lead, keeps the submitted id; every member's
options carry `lead` (the lead's id) and `member` (its rank). Each member
is an ordinary job (assigned, committed, revealed, sampled and settled as
any other), with an even share of the fee and of the work units, so a
member that fails is requeued, refunded or slashed alone.

The members must run on distinct providers: when one is assigned, its
provider joins the `tried` list of the group's other members still
waiting, which the assignment already excludes.

The lead's provider publishes where the others meet it (`rendezvous`):
a `host:port` the members' sandboxes connect to, bounded like an API URL.
"""

from dataclasses import replace

from runtime.constants import MAX_API_URL
from runtime.context import Ctx
from runtime.pallets.job_types import PALLET, Error, Event, Job, Jobs, JobStatus
from runtime.state import State
from runtime.storage import StorageMap

# lead job id -> the rendezvous address its provider published
Rendezvous: StorageMap[bytes] = StorageMap(PALLET, "Rendezvous", b"")


def size(job: Job) -> int:
    return job.options.get("providers", 1)


def members(job: Job) -> range:
    """The ids of the job's group (just its own for a single-provider job)."""
    lead = job.options.get("lead", job.id)
    return range(lead, lead + size(job))


def split(total: int, count: int, member: int) -> int:
    """The member's even share of `total`; the lead takes the remainder."""
    return total // count + (total % count if member == 0 else 0)


def member_jobs(lead: Job) -> list[Job]:
    """The group's member records for a lead built as a single job."""
    count = size(lead)
    return [
        replace(
            lead,
            id=lead.id + member,
            units=split(lead.units, count, member),
            max_fee=split(lead.max_fee, count, member),
            options={**lead.options, "lead": lead.id, "member": member},
        )  # fmt: skip
        for member in range(count)
    ]


def busy_providers(state: State, job: Job) -> set[bytes]:
    """The providers holding the group's other members now."""
    held = set()
    for other in members(job):
        found = Jobs.get(state, other)
        if other != job.id and found is not None and found.provider:
            held.add(found.provider)
    return held


def keep_apart(ctx: Ctx, job: Job, provider: bytes) -> None:
    """`provider` now holds `job`: the group's waiting members avoid it."""
    if size(job) == 1:
        return
    for other in members(job):
        found = Jobs.get(ctx.state, other)
        waiting = found is not None and found.status == JobStatus.PENDING
        if other != job.id and found is not None and waiting and provider not in found.tried:
            Jobs.put(ctx.state, other, replace(found, tried=(*found.tried, provider)))


def _plain_address(address: bytes) -> bool:
    host, _, port = address.rpartition(b":")
    return (
        0 < len(address) <= MAX_API_URL and bool(host) and port.isdigit() and 0 < int(port) < 65_536
        and all(33 <= c < 127 for c in address)
    )  # fmt: skip


def rendezvous(ctx: Ctx, origin: bytes, job: int, address: bytes) -> None:
    found = Jobs.get(ctx.state, job)
    if found is None:
        raise Error.UnknownJob(str(job))
    if size(found) == 1 or found.options.get("member") != 0:
        raise Error.NotGroupLead("only the lead of a job spread over providers has a rendezvous")
    if found.provider != origin or found.status not in (JobStatus.ASSIGNED, JobStatus.COMMITTED):
        raise Error.NotAssigned("this job is not assigned to you")
    if not _plain_address(address):
        raise Error.BadAddress(f"a rendezvous is host:port, printable, at most {MAX_API_URL} bytes")
    Rendezvous.put(ctx.state, job, address)
    ctx.emit(Event.RendezvousSet, job=job, provider=origin, address=address)


def progress(ctx: Ctx, origin: bytes, job: int, round_: int) -> Job:
    """A member whose group broke (a peer vanished) says it is alive and how
    far the group got: its commit window starts again, so it waits for the
    replacement the chain assigns to the lost member instead of missing its
    commit beside it. Never past the job's deadline. A lead's published
    address goes with its group."""
    found = Jobs.get(ctx.state, job)
    if found is None:
        raise Error.UnknownJob(str(job))
    if size(found) == 1:
        raise Error.NotGroupLead("only a member of a job spread over providers reports progress")
    if found.provider != origin or found.status != JobStatus.ASSIGNED:
        raise Error.NotAssigned("this job is not assigned to you, or was committed")
    if not 0 <= round_ <= found.options.get("rounds", 0):
        raise Error.BadOptions(f"a round of 0 to {found.options.get('rounds', 0)}")
    if ctx.number >= found.deadline:
        raise Error.TooLate("the job's deadline has passed: no more waiting")
    restarted = replace(found, assigned_at=ctx.number)
    Jobs.put(ctx.state, job, restarted)
    # a lead saying so has lost its group: its address is stale, and a
    # replacement must wait for the next one rather than meet nobody there
    forget(ctx, restarted)
    ctx.emit(Event.ProgressReported, job=job, provider=origin, round=round_)
    return restarted


def delivered(ctx: Ctx, origin: bytes, job: int, first: int) -> None:
    """A member that joined late (replacing a lost one) says the first round
    it delivered, before it reveals: it is paid for the rounds from there on,
    and its result is checked for those (`first` joins the job's options)."""
    found = Jobs.get(ctx.state, job)
    if found is None:
        raise Error.UnknownJob(str(job))
    if size(found) == 1:
        raise Error.NotGroupLead("only a member of a job spread over providers delivers rounds")
    if found.provider != origin or found.status not in (JobStatus.ASSIGNED, JobStatus.COMMITTED):
        raise Error.NotAssigned("this job is not assigned to you, or was revealed")
    rounds = found.options.get("rounds", 1)
    if not 0 <= first < rounds:
        raise Error.BadOptions(f"the first round delivered is 0 to {rounds - 1}")
    Jobs.put(ctx.state, job, replace(found, options={**found.options, "first": first}))
    ctx.emit(Event.RoundsDelivered, job=job, provider=origin, first=first, rounds=rounds)


def paid_units(job: Job) -> int:
    """The work units a member is paid for: its share, for the rounds it delivered."""
    rounds = job.options.get("rounds", 1)
    return job.units * (rounds - job.options.get("first", 0)) // rounds if size(job) > 1 else job.units


def forget(ctx: Ctx, job: Job) -> None:
    """The lead is no longer running: its address is stale."""
    if size(job) > 1 and job.options.get("member") == 0:
        Rendezvous.remove(ctx.state, job.id)
