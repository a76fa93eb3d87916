"""A member of a LoRA job spread over providers (`runtime.pallets.job_groups`),
as the provider worker runs it: where it meets the other members.

Once every member has a provider, the lead's provider picks a free port on
its rendezvous host, publishes `host:port` on chain (`jobs.rendezvous`) and
starts: its runner listens there (rank 0 hosts the group's store). Every other member waits
until the address is on chain, then starts and connects to it; the group's
own timeouts (`agent.diloco_group`) end a run whose peers never come.

A run that loses a peer ends with a partial result (the rounds done and the
shared state): the member waits (`WAITING`), tells the chain it is alive, and
runs again from there when the group re-forms (`next_attempt`).
"""

import socket
from typing import Any

from agent.canonical import decode
from offchain.progress import RUNNING, JobProgress
from runtime.pallets import job_groups, jobs
from runtime.state import State

Call = tuple[str, dict[str, Any]]  # a jobs call to submit: (name, arguments)
# blocks a broken group's lead waits for a member to be reassigned before it
# tries again with the same members (the break was the network's, not a death)
REGROUP_AFTER = 20


def spread(job: jobs.Job) -> bool:
    return job_groups.size(job) > 1


def is_lead(job: jobs.Job) -> bool:
    return spread(job) and job.options.get("member") == 0


def complete(state: State, job: jobs.Job) -> bool:
    """Does every member of the job's group have a provider now? The lead
    starts only then: a runner waiting for members holds its executor, and
    the provider's sessions wait behind it."""
    found = [jobs.job(state, other) for other in job_groups.members(job)]
    return all(m is not None and m.provider and m.status == jobs.JobStatus.ASSIGNED for m in found)


def lead_address(host: str) -> str:
    """A free port on `host` for the lead's runner to listen on."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def published(state: State, job: jobs.Job) -> str:
    """The lead's address as the chain has it ('' until it is published)."""
    return job_groups.Rendezvous.get(state, job.options.get("lead", job.id)).decode("ascii", "replace")


def first_round(job: jobs.Job, encoded: bytes) -> int:
    """The first round a member's finished result delivered (0 unless it replaced a lost member)."""
    if not spread(job):
        return 0
    payload = decode(encoded)
    first = payload.get("first", 0) if isinstance(payload, dict) else 0
    return first if type(first) is int else 0


def partial(job: jobs.Job, encoded: bytes) -> dict[str, Any] | None:
    """The partial result of a member whose group broke (`agent.diloco_progress`), else None."""
    if not spread(job):
        return None
    payload = decode(encoded)
    return payload if isinstance(payload, dict) and payload.get("partial") else None


def next_attempt(
    state: State, job: jobs.Job, record: JobProgress, host: str, number: int
) -> tuple[JobProgress, list[Call], bool]:
    """For a member waiting for its group to re-form: the record from now on,
    the calls to send, and whether to run again now.

    It tells the chain once that it is alive (`jobs.progress`, a fresh commit
    window while the lost member is replaced). The lead runs again at a new
    address once a member was reassigned since the break (or REGROUP_AFTER
    blocks passed) and every member has a provider; the others when the
    lead's address changes (a new lead, or the lead's new attempt)."""
    calls: list[Call] = []
    if record.progress_sent < 0:
        record = record.but(progress_sent=number)
        calls.append(("progress", {"job": job.id, "round": record.rounds_done}))
    if is_lead(job):
        others = [m for i in job_groups.members(job) if i != job.id and (m := jobs.job(state, i)) is not None]
        replaced = any(m.assigned_at > record.broken_at for m in others)
        if not complete(state, job) or not (replaced or number - record.broken_at >= REGROUP_AFTER):
            return record, calls, False  # a runner waiting for a dead member would hold the executor
        address = lead_address(host)
        calls.append(("rendezvous", {"job": job.id, "address": address.encode()}))
        return record.but(rendezvous=address, state=RUNNING, progress_sent=-1), calls, True
    address = published(state, job)
    if address and address != record.rendezvous:
        return record.but(rendezvous=address, state=RUNNING, progress_sent=-1), calls, True
    return record, calls, False
