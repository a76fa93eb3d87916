"""DiLoCo rounds for a LoRA job spread over several providers: the math of
one round, with no communication (that is `agent.diloco_group`).

Each of K providers holds the same adapter `A_r` at the start of round r. It
trains `H` inner steps (AdamW, a fresh optimizer every round) on its shard of
the dataset, and its *delta* is `A_r - A_local`. The K deltas are averaged in
rank order, and an outer Nesterov step gives `A_{r+1}` (DiLoCo: Douillard et
al. 2023). Only LoRA parameters travel, once per round instead of once per
step: that is the communication saved.

Why a fresh inner optimizer each round: a round is then a pure function of
(A_r, the shard, the settings), so a verifier re-executes any sampled
(provider, round) from the round's starting adapter alone, without the
provider's private optimizer state. Why rank order: float addition is not
associative, and every provider must reach the same `A_{r+1}` bit for bit.
"""

from dataclasses import dataclass
from typing import Any

MAX_PROVIDERS = 8


@dataclass(frozen=True)
class OuterSettings:
    lr: float = 0.7  # DiLoCo's outer learning rate
    momentum: float = 0.9  # Nesterov


def shard(texts: list[str], rank: int, world: int) -> list[str]:
    """The provider's part of the dataset: every `world`-th text from `rank`."""
    if not 0 <= rank < world <= MAX_PROVIDERS:
        raise ValueError(f"rank {rank} of {world} providers (at most {MAX_PROVIDERS})")
    part = texts[rank::world]
    if not part:
        raise ValueError(f"{len(texts)} texts cannot be shared by {world} providers")
    return part


def flatten(adapter: dict[str, Any]) -> Any:
    """One fp32 vector of the adapter's tensors, in sorted name order."""
    import torch

    return torch.cat([adapter[name].detach().float().reshape(-1) for name in sorted(adapter)])


def unflatten(vector: Any, like: dict[str, Any]) -> dict[str, Any]:
    sizes = {name: like[name].numel() for name in sorted(like)}
    if sum(sizes.values()) != vector.numel():
        raise ValueError(f"a vector of {vector.numel()} values for an adapter of {sum(sizes.values())}")
    out, at = {}, 0
    for name, size in sizes.items():
        out[name] = vector[at : at + size].reshape(like[name].shape).clone()
        at += size
    return out


def mean_in_rank_order(deltas: list[Any]) -> Any:
    total = deltas[0].clone()
    for delta in deltas[1:]:
        total += delta
    return total / len(deltas)


def outer_step(start: Any, momentum: Any, mean_delta: Any, settings: OuterSettings) -> tuple[Any, Any]:
    """The next round's adapter and momentum from this round's mean delta
    (the delta is a pseudo-gradient: the adapter moves against it)."""
    momentum = settings.momentum * momentum + mean_delta
    step = mean_delta + settings.momentum * momentum
    return start - settings.lr * step, momentum


def train_inner(model: Any, batch: dict[str, Any], labels: Any, steps: int, lr: float) -> list[float]:
    """`steps` AdamW steps on the whole shard; the loss before each step."""
    import torch

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=lr)
    losses = []
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    return losses
