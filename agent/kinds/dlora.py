"""`lora` over several providers: one provider's part of a DiLoCo job.

Settings (integers, as every job's): rank, alpha, lr_ppm, seed as `lora`;
`sync_every` (H, inner steps per round), `rounds`, `outer_lr_ppm`,
`momentum_ppm`. Every provider builds the same starting adapter from the
seed, trains its shard (`agent.diloco.shard`) H steps a round, and the group
averages the deltas in rank order; after the last round every provider holds
the same adapter.

The result: the adapter (safetensors), this provider's loss trace (the loss
before every inner step), and per round the digests of its delta and of the
averaged adapter: what it commits to, so a sampled (provider, round) can be
re-executed from that round's starting adapter (`round_delta`).
"""

import logging
from pathlib import Path
from typing import Any

from agent import diloco
from agent.canonical import decode, digest, to_fixed
from agent.diloco_group import Group, GroupBroken
from agent.diloco_progress import Progress, agree, vector_of
from agent.job import JobSpec, Verdict
from agent.kinds.lora import WEIGHT_TOLERANCE, adapter_of, prepare

MAX_ROUNDS = 64
log = logging.getLogger("vcoin.agent.dlora")


def settings(options: dict[str, int]) -> tuple[int, int, float, diloco.OuterSettings]:
    steps, rounds = options.get("sync_every", 50), options.get("rounds", 4)
    if not 1 <= steps <= 10_000 or not 1 <= rounds <= MAX_ROUNDS:
        raise ValueError(f"sync_every is 1-10000 and rounds 1-{MAX_ROUNDS}")
    outer = diloco.OuterSettings(
        options.get("outer_lr_ppm", 700_000) / 1e6, options.get("momentum_ppm", 900_000) / 1e6
    )
    return steps, rounds, options.get("lr_ppm", 1_000) / 1e6, outer


def _digest_of(vector: Any) -> bytes:
    return digest(vector.numpy().tobytes())


def load_adapter(model: Any, vector: Any, like: dict[str, Any]) -> None:
    from peft import set_peft_model_state_dict

    device = next(model.parameters()).device
    set_peft_model_state_dict(model, {k: v.to(device) for k, v in diloco.unflatten(vector, like).items()})


def round_delta(
    model: Any, batch: dict[str, Any], labels: Any, start: Any, like: dict[str, Any], steps: int, lr: float
) -> tuple[Any, list[float]]:
    """One provider's round from `start`: its delta and its losses."""
    load_adapter(model, start, like)
    losses = diloco.train_inner(model, batch, labels, steps, lr)
    return start - diloco.flatten(adapter_of(model)), losses


def run(
    texts: list[str], model_path: Path, device: str, options: dict[str, int], group: Group,
    resume: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """This member's rounds from where the group got to; a partial result
    (`diloco_progress`) when a peer vanishes mid-way."""
    from safetensors.torch import save

    steps, rounds, lr, outer = settings(options)
    part = diloco.shard(texts, group.rank, group.world)
    model, batch, labels = prepare(part, model_path, device, options)
    like = adapter_of(model)
    current = diloco.flatten(like)
    progress = Progress.of(resume)
    try:
        progress, current, momentum = agree(group, progress, current, current * 0)
        while progress.done < rounds:
            delta, trace = round_delta(model, batch, labels, current, like, steps, lr)
            mean = diloco.mean_in_rank_order(group.gather(delta))
            start = current
            current, momentum = diloco.outer_step(current, momentum, mean, outer)
            commitment = {"delta": _digest_of(delta), "adapter": _digest_of(current)}
            progress.record(start, delta, trace, commitment)
            progress.finish_round(current, momentum)
            log.info("round %d of %d done (loss %.4f)", progress.done, rounds, trace[-1] if trace else 0.0)
    except GroupBroken as exc:
        log.warning("the group broke after %d rounds: %s", progress.done, exc)
        return progress.partial_payload()
    return {
        "loss": to_fixed(progress.losses),
        "adapter": save(diloco.unflatten(current, like)),
        "rounds": progress.commitments,
        # what a verifier re-executes each delivered round from, and compares with
        "first": progress.first,
        "starts": progress.starts,
        "deltas": progress.deltas,
        "bytes_sent": group.bytes_sent,
    }


def run_member(spec: JobSpec, model_path: Path, device: str) -> dict[str, Any]:
    """This provider's part of a job spread over providers: it joins the
    group at the spec's rendezvous as rank `member` of `providers`, going on
    from the partial result in `spec.resume` if any, and authenticating every
    round's vector with the keys in `spec.peers`."""
    options = spec.options
    resume = decode(spec.resume) if spec.resume else None
    keys = decode(spec.peers) if spec.peers else None
    try:
        group = Group.join(options.get("member", 0), options["providers"], spec.rendezvous, keys=keys)
    except (RuntimeError, ValueError) as exc:  # the others never came: try again later from here
        log.warning("the group did not form at %s: %s", spec.rendezvous, exc)
        return Progress.of(resume).partial_payload()
    try:
        return run(list(spec.input), model_path, device, options, group, resume)
    finally:
        group.close()


def unchained(claimed: dict[str, Any], starts: list[Any], deltas: list[Any]) -> str | None:
    """Why the member's own claims do not hang together, or None: each round's
    committed delta is the delta it shows, each round's committed adapter is
    the next round's start, and the result's adapter is the last committed
    one. A member that shows starts no commitment of its ever produced is
    caught here, without re-execution."""
    from safetensors.torch import load

    rounds = claimed.get("rounds")
    if not isinstance(rounds, list) or len(rounds) != len(deltas):
        return "a member's result commits to each round it delivered"
    for index, commitment in enumerate(rounds):
        if not isinstance(commitment, dict) or commitment.get("delta") != _digest_of(deltas[index]):
            return f"round {index}: the delta shown is not the one committed"
        follows = starts[index + 1] if index + 1 < len(starts) else None
        if follows is not None and commitment.get("adapter") != _digest_of(follows):
            return f"round {index + 1}: starts from an adapter no committed round produced"
    try:
        final = diloco.flatten(load(claimed["adapter"]))
    except Exception as exc:
        return f"an unreadable adapter ({exc})"
    if rounds and rounds[-1].get("adapter") != _digest_of(final):
        return "the result's adapter is not the last round's committed adapter"
    return None


def check_member(spec: JobSpec, model_path: Path, device: str, claimed: dict[str, Any]) -> Verdict:
    """Re-execute every round a member delivered from the round's claimed
    starting adapter on its shard; a member that was there from the start
    must start from the adapter the seed builds, and its commitments must
    chain (`unchained`). (That its chain is the group's, not one of its own
    making, is checked across members, not here: docs/distributed-lora.md.)"""
    steps, rounds, lr, _ = settings(spec.options)
    starts, deltas, first = claimed.get("starts"), claimed.get("deltas"), claimed.get("first", 0)
    if type(first) is not int or first != spec.options.get("first", 0):
        return Verdict(False, "the result's first round is not the one the member declared on chain")
    if (
        not isinstance(starts, list)
        or not isinstance(deltas, list)
        or not len(starts) == len(deltas) == rounds - first
    ):
        return Verdict(False, f"a member's result has a start and a delta for each round from {first}")
    try:
        start_vectors, delta_vectors = [vector_of(raw) for raw in starts], [vector_of(raw) for raw in deltas]
    except Exception as exc:
        return Verdict(False, f"unreadable tensor ({exc})")
    reason = unchained(claimed, start_vectors, delta_vectors)
    if reason is not None:
        return Verdict(False, reason)
    part = diloco.shard(list(spec.input), spec.options.get("member", 0), spec.options["providers"])
    model, batch, labels = prepare(part, model_path, device, spec.options)
    like = adapter_of(model)
    expected = diloco.flatten(like)
    for index, (start, claimed_delta) in enumerate(
        zip(start_vectors, delta_vectors, strict=True), start=first
    ):
        if start.shape != expected.shape or claimed_delta.shape != expected.shape:
            return Verdict(False, f"round {index}: tensors of the wrong size")
        if index == 0 and float((start - expected).abs().max()) > WEIGHT_TOLERANCE:
            return Verdict(False, "round 0 does not start from the adapter the seed builds")
        delta, _ = round_delta(model, batch, labels, start, like, steps, lr)
        drift = float((delta - claimed_delta).abs().max())
        if drift > WEIGHT_TOLERANCE:
            return Verdict(False, f"round {index}: the delta differs by {drift:.2e} on re-execution")
    return Verdict(True)
