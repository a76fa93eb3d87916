"""The providers of one distributed LoRA job as a torch.distributed group:
gloo over TCP on CPU (NCCL needs one GPU per process, and a round's exchange
is a few MiB at most: gloo is enough on GPU machines too).

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
    _pg: Any = field(default=None, repr=False)

    @classmethod
    def join(cls, rank: int, world: int, rendezvous: str, timeout: float = DEFAULT_TIMEOUT) -> "Group":
        group = cls(rank, world)
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
        group._pg = dist.ProcessGroupGloo(store, rank, world, timedelta(seconds=timeout))
        return group

    def gather(self, vector: Any) -> list[Any]:
        """Every provider's vector, in rank order."""
        import torch

        if self.world == 1:
            return [vector]
        parts = [torch.empty_like(vector) for _ in range(self.world)]
        try:
            self._pg.allgather([parts], [vector]).wait()
        except RuntimeError as exc:  # gloo's errors: a dead peer's connection, a timeout
            raise GroupBroken(str(exc)) from None
        self.exchanges += 1
        self.bytes_sent += vector.numel() * vector.element_size() * (self.world - 1)
        return parts

    def close(self) -> None:
        self._pg = None
