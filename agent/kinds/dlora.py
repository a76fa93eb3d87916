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

from pathlib import Path
from typing import Any

from agent import diloco, loading
from agent.canonical import digest, to_fixed
from agent.diloco_group import Group
from agent.job import JobSpec, Verdict
from agent.kinds.lora import MAX_LENGTH, WEIGHT_TOLERANCE, _targets

MAX_ROUNDS = 64


def settings(options: dict[str, int]) -> tuple[int, int, float, diloco.OuterSettings]:
    steps, rounds = options.get("sync_every", 50), options.get("rounds", 4)
    if not 1 <= steps <= 10_000 or not 1 <= rounds <= MAX_ROUNDS:
        raise ValueError(f"sync_every is 1-10000 and rounds 1-{MAX_ROUNDS}")
    outer = diloco.OuterSettings(
        options.get("outer_lr_ppm", 700_000) / 1e6, options.get("momentum_ppm", 900_000) / 1e6
    )
    return steps, rounds, options.get("lr_ppm", 1_000) / 1e6, outer


def build(
    texts: list[str], model_path: Path, device: str, options: dict[str, int]
) -> tuple[Any, dict[str, Any], Any]:
    """The model with a fresh adapter from the seed, the shard's batch, and its labels."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    tokenizer, _ = loading.causal_lm(model_path, device)
    source, extra = loading._source(model_path)
    torch.manual_seed(options.get("seed", 0))
    base = AutoModelForCausalLM.from_pretrained(source, dtype=loading.FLOAT32, **extra).to(device)  # type: ignore[arg-type]
    config = LoraConfig(
        r=options.get("rank", 8), lora_alpha=options.get("alpha", 16), target_modules=_targets(base),
        lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
    )  # fmt: skip
    model = get_peft_model(base, config)
    model.train()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    batch = {k: encoded[k].to(device) for k in ("input_ids", "attention_mask")}
    return model, batch, batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)


def adapter_of(model: Any) -> dict[str, Any]:
    from peft import get_peft_model_state_dict

    return {k: v.detach().float().cpu().contiguous() for k, v in get_peft_model_state_dict(model).items()}


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


def _vector_bytes(vector: Any) -> bytes:
    from safetensors.torch import save

    return save({"v": vector.contiguous()})


def _vector_of(raw: Any) -> Any:
    from safetensors.torch import load

    if not isinstance(raw, bytes):
        raise ValueError("a round's tensor is safetensors bytes")
    return load(raw)["v"]


def run(
    texts: list[str], model_path: Path, device: str, options: dict[str, int], group: Group
) -> dict[str, Any]:
    from safetensors.torch import save

    steps, rounds, lr, outer = settings(options)
    part = diloco.shard(texts, group.rank, group.world)
    model, batch, labels = build(part, model_path, device, options)
    like = adapter_of(model)
    current = diloco.flatten(like)
    momentum = current * 0
    losses: list[float] = []
    commitments, starts, deltas = [], [], []
    for _ in range(rounds):
        starts.append(_vector_bytes(current))
        delta, trace = round_delta(model, batch, labels, current, like, steps, lr)
        deltas.append(_vector_bytes(delta))
        losses += trace
        mean = diloco.mean_in_rank_order(group.gather(delta))
        current, momentum = diloco.outer_step(current, momentum, mean, outer)
        commitments.append(
            {"delta": digest(delta.numpy().tobytes()), "adapter": digest(current.numpy().tobytes())}
        )
    return {
        "loss": to_fixed(losses),
        "adapter": save(diloco.unflatten(current, like)),
        "rounds": commitments,
        # what a verifier re-executes a round from, and compares with
        "starts": starts,
        "deltas": deltas,
        "bytes_sent": group.bytes_sent,
    }


def run_member(spec: JobSpec, model_path: Path, device: str) -> dict[str, Any]:
    """This provider's part of a job spread over providers: it joins the
    group at the spec's rendezvous as rank `member` of `providers`."""
    options = spec.options
    group = Group.join(options.get("member", 0), options["providers"], spec.rendezvous)
    try:
        return run(list(spec.input), model_path, device, options, group)
    finally:
        group.close()


def check_member(spec: JobSpec, model_path: Path, device: str, claimed: dict[str, Any]) -> Verdict:
    """Re-execute every round of a member's claimed result from the round's
    claimed starting adapter on its shard; the first round must start from
    the adapter the seed builds. (That the later starts follow from the
    group's averaged deltas is checked across members, not here.)"""
    steps, rounds, lr, _ = settings(spec.options)
    starts, deltas = claimed.get("starts"), claimed.get("deltas")
    if (
        not isinstance(starts, list)
        or not isinstance(deltas, list)
        or not len(starts) == len(deltas) == rounds
    ):
        return Verdict(False, f"a member's result has {rounds} rounds of starts and deltas")
    part = diloco.shard(list(spec.input), spec.options.get("member", 0), spec.options["providers"])
    model, batch, labels = build(part, model_path, device, spec.options)
    like = adapter_of(model)
    expected = diloco.flatten(like)
    for index, (start_raw, delta_raw) in enumerate(zip(starts, deltas, strict=True)):
        try:
            start, claimed_delta = _vector_of(start_raw), _vector_of(delta_raw)
        except Exception as exc:
            return Verdict(False, f"round {index}: unreadable tensor ({exc})")
        if start.shape != expected.shape or claimed_delta.shape != expected.shape:
            return Verdict(False, f"round {index}: tensors of the wrong size")
        if index == 0 and float((start - expected).abs().max()) > WEIGHT_TOLERANCE:
            return Verdict(False, "round 0 does not start from the adapter the seed builds")
        delta, _ = round_delta(model, batch, labels, start, like, steps, lr)
        drift = float((delta - claimed_delta).abs().max())
        if drift > WEIGHT_TOLERANCE:
            return Verdict(False, f"round {index}: the delta differs by {drift:.2e} on re-execution")
    return Verdict(True)
