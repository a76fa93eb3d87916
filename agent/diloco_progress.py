"""How far a member of a DiLoCo group got, so a broken group goes on from
there instead of from the start (docs/distributed-lora.md, elastic restart).

After every round each member holds the same adapter and outer momentum, bit
for bit. When a peer vanishes, a member's run ends with a *partial* result
(`partial_payload`): the rounds it completed, that state, and its own history
(starts, deltas, commitments, losses). Its worker keeps it and runs again
when the group re-forms (a replacement for the lost member, or a new lead);
then the members `agree`: the furthest round any of them reached, and the
state of the first member holding it. A member that joined late delivers the
rounds from there on (`first`).
"""

from dataclasses import dataclass, field
from typing import Any

from agent.canonical import from_fixed, to_fixed
from agent.diloco_group import Group


def vector_bytes(vector: Any) -> bytes:
    from safetensors.torch import save

    return save({"v": vector.contiguous()})


def vector_of(raw: Any) -> Any:
    from safetensors.torch import load

    if not isinstance(raw, bytes):
        raise ValueError("a round's tensor is safetensors bytes")
    return load(raw)["v"]


@dataclass
class Progress:
    first: int = 0  # the first round this member delivered
    done: int = 0  # rounds the group completed, as this member saw
    state: bytes = b""  # the adapter after `done` rounds (flat), and the outer momentum
    momentum: bytes = b""
    starts: list[bytes] = field(default_factory=list)
    deltas: list[bytes] = field(default_factory=list)
    commitments: list[dict[str, bytes]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, resume: dict[str, Any] | None) -> "Progress":
        if not resume:
            return cls()
        return cls(int(resume["first"]), int(resume["round"]), bytes(resume["state"]), bytes(resume["momentum"]),
                   list(resume["starts"]), list(resume["deltas"]), list(resume["rounds"]),
                   from_fixed(resume["losses"]))  # fmt: skip

    def partial_payload(self) -> dict[str, Any]:
        return {"partial": True, "first": self.first, "round": self.done, "state": self.state,
                "momentum": self.momentum, "starts": self.starts, "deltas": self.deltas,
                "rounds": self.commitments, "losses": to_fixed(self.losses)}  # fmt: skip

    def record(self, start: Any, delta: Any, losses: list[float], commitment: dict[str, bytes]) -> None:
        self.starts.append(vector_bytes(start))
        self.deltas.append(vector_bytes(delta))
        self.losses += losses
        self.commitments.append(commitment)

    def finish_round(self, current: Any, momentum: Any) -> None:
        self.done += 1
        self.state, self.momentum = vector_bytes(current), vector_bytes(momentum)


def agree(group: Group, mine: Progress, current: Any, momentum: Any) -> tuple[Progress, Any, Any]:
    """Where the group goes on from: the furthest round reached, with the
    state of the first member that reached it. A member behind it starts its
    history there (it delivers only the rounds from then on)."""
    import torch

    reached = [int(t.item()) for t in group.gather(torch.tensor([float(mine.done)]))]
    best = max(reached)
    if best == 0:
        return mine, current, momentum
    holder = reached.index(best)
    own = mine.done == best
    state = vector_of(mine.state) if own else torch.zeros_like(current)
    moment = vector_of(mine.momentum) if own else torch.zeros_like(momentum)
    current, momentum = group.gather(state)[holder], group.gather(moment)[holder]
    if own:
        return mine, current, momentum
    return Progress(best, best, vector_bytes(current), vector_bytes(momentum)), current, momentum
