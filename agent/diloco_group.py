"""The providers of one distributed LoRA job as a torch.distributed group:
gloo over TCP by default, on CPU and GPU alike: a round's exchange is a few
MiB at most, once per H steps, so the link, not the collective, bounds it;
gloo reports a vanished peer as an error, where NCCL's watchdog may abort the
whole process; and NCCL refuses two ranks on one GPU. `backend="nccl"` is
there for providers with a GPU each (and for `vcoin bench dlora --backend`).

The rendezvous is the first provider's address (`host:port`), which the
chain tells the others; every exchange has a timeout, so a provider that
vanished makes the others fail the round (and the job restarts from the last
round) instead of hanging.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

DEFAULT_TIMEOUT = 120.0  # seconds for the group to form and for each exchange


class GroupBroken(Exception):
    """A peer vanished (closed its connection, or timed out): the round is lost, not the job."""


@dataclass
class Group:
    rank: int
    world: int
    bytes_sent: int = 0  # payload this provider put on the wire
    exchanges: int = 0
    backend: str = "gloo"
    _pg: Any = field(default=None, repr=False)

    @classmethod
    def join(
        cls, rank: int, world: int, rendezvous: str, timeout: float = DEFAULT_TIMEOUT, backend: str = "gloo"
    ) -> "Group":
        if backend not in ("gloo", "nccl"):
            raise ValueError(f"a group's backend is gloo or nccl, not {backend!r}")
        group = cls(rank, world, backend=backend)
        if world == 1:
            return group
        import torch.distributed as dist

        host, _, port = rendezvous.rpartition(":")
        host = host.strip("[]")  # an IPv6 address is written [host]:port
        if not host or not port.isdigit():
            raise ValueError(f"a rendezvous is host:port, not {rendezvous!r}")
        store = dist.TCPStore(host, int(port), world, rank == 0, timedelta(seconds=timeout))  # type: ignore[attr-defined]
        # a private group object, not the process-global default: a runner may
        # serve other jobs before and after this one
        if backend == "nccl":
            options = dist.ProcessGroupNCCL.Options()
            options._timeout = timedelta(seconds=timeout)
            group._pg = dist.ProcessGroupNCCL(store, rank, world, options)
        else:
            group._pg = dist.ProcessGroupGloo(store, rank, world, timedelta(seconds=timeout))
        return group

    def gather(self, vector: Any) -> list[Any]:
        """Every provider's vector, in rank order."""
        import torch

        if self.world == 1:
            return [vector]
        home = vector.device
        if self.backend == "nccl":
            vector = vector.cuda()
        parts = [torch.empty_like(vector) for _ in range(self.world)]
        try:
            self._pg.allgather([parts], [vector]).wait()
        except RuntimeError as exc:  # gloo's errors: a dead peer's connection, a timeout
            raise GroupBroken(str(exc)) from None
        parts = [part.to(home) for part in parts]
        self.exchanges += 1
        self.bytes_sent += vector.numel() * vector.element_size() * (self.world - 1)
        return parts

    def close(self) -> None:
        self._pg = None
