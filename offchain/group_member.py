"""A member of a LoRA job spread over providers (`runtime.pallets.job_groups`),
as the provider worker runs it: where it meets the other members.

The lead's provider picks a free port on its rendezvous host, publishes
`host:port` on chain (`jobs.rendezvous`) and starts at once: its runner
listens there (rank 0 hosts the group's store). Every other member waits
until the address is on chain, then starts and connects to it; the group's
own timeouts (`agent.diloco_group`) end a run whose peers never come.
"""

import socket

from runtime.pallets import job_groups, jobs
from runtime.state import State


def spread(job: jobs.Job) -> bool:
    return job_groups.size(job) > 1


def is_lead(job: jobs.Job) -> bool:
    return spread(job) and job.options.get("member") == 0


def lead_address(host: str) -> str:
    """A free port on `host` for the lead's runner to listen on."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def published(state: State, job: jobs.Job) -> str:
    """The lead's address as the chain has it ('' until it is published)."""
    return job_groups.Rendezvous.get(state, job.options.get("lead", job.id)).decode("ascii", "replace")
