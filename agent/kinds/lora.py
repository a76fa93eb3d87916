"""`lora`: LoRA fine-tuning with peft on a small text dataset.

Settings: rank, alpha, steps, learning rate (millionths) and seed. The
result is the loss of every step and the adapter weights as safetensors
bytes. Compare: same number of steps, every loss within `LOSS_TOLERANCE`
(relative), and every adapter weight within `WEIGHT_TOLERANCE` (absolute).
A few optimizer steps on the same data and seed drift by ~1e-6 between CPU
and GPU in fp32; a lazy or different run misses by orders of magnitude more.
"""

from pathlib import Path
from typing import Any

from agent import loading
from agent.canonical import from_fixed, to_fixed
from agent.job import JobSpec, Verdict

LOSS_TOLERANCE = 1e-3
WEIGHT_TOLERANCE = 1e-3
MAX_LENGTH = 128
TARGETS = (("q_proj", "v_proj"), ("c_attn",), ("query", "value"))


def _targets(model: Any) -> list[str]:
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    for group in TARGETS:
        if all(name in names for name in group):
            return list(group)
    raise ValueError("no known attention projections to adapt in this model")


def spread(spec: JobSpec) -> bool:
    """Is this a member's part of a job spread over providers (`agent.kinds.dlora`)?"""
    return spec.options.get("providers", 1) > 1


def run(spec: JobSpec, model_path: Path, device: str) -> dict[str, Any]:
    if spread(spec):
        from agent.kinds import dlora

        return dlora.run_member(spec, model_path, device)
    return _run_alone(spec, model_path, device)


def check(spec: JobSpec, model_path: Path, device: str, claimed: dict[str, Any]) -> Verdict:
    """A verifier's check: a member's rounds one by one (it cannot run the
    group alone), any other job by re-execution."""
    if spread(spec):
        from agent.kinds import dlora

        return dlora.check_member(spec, model_path, device, claimed)
    return compare(_run_alone(spec, model_path, device), claimed)


def _run_alone(spec: JobSpec, model_path: Path, device: str) -> dict[str, Any]:
    from safetensors.torch import save

    from agent.diloco import train_inner

    model, batch, labels = prepare(list(spec.input), model_path, device, spec.options)
    lr = spec.options.get("lr_ppm", 1_000) / 1e6
    losses = train_inner(model, batch, labels, spec.options.get("steps", 10), lr)
    return {"loss": to_fixed(losses), "adapter": save(adapter_of(model))}


def prepare(
    texts: list[str], model_path: Path, device: str, options: dict[str, int]
) -> tuple[Any, dict[str, Any], Any]:
    """A freshly loaded model (training changes it: never the cached one) with
    an adapter drawn from the seed, the texts' batch, and its labels."""
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


def compare(reference: dict[str, Any], claimed: dict[str, Any]) -> Verdict:
    ref_loss, got_loss = from_fixed(reference.get("loss", [])), claimed.get("loss")
    if not isinstance(got_loss, list) or len(got_loss) != len(ref_loss):
        return Verdict(False, "wrong number of loss steps")
    for step, (want, have) in enumerate(zip(ref_loss, from_fixed(got_loss), strict=True)):
        if abs(want - have) > LOSS_TOLERANCE * max(1.0, abs(want)):
            return Verdict(False, f"loss at step {step}: {have:.6f}, re-executed {want:.6f}")
    return _compare_adapters(reference.get("adapter", b""), claimed.get("adapter", b""))


def _compare_adapters(reference: bytes, claimed: Any) -> Verdict:
    from safetensors.torch import load

    if not isinstance(claimed, bytes):
        return Verdict(False, "the adapter is not safetensors bytes")
    try:
        want, have = load(reference), load(claimed)
    except Exception as exc:
        return Verdict(False, f"unreadable adapter: {exc}")
    if set(want) != set(have):
        return Verdict(False, "the adapter has other tensors")
    for name, tensor in want.items():
        if tensor.shape != have[name].shape:
            return Verdict(False, f"{name} has shape {tuple(have[name].shape)}")
        drift = float((tensor - have[name]).abs().max()) if tensor.numel() else 0.0
        if drift > WEIGHT_TOLERANCE:
            return Verdict(False, f"{name} differs by {drift:.2e}")
    return Verdict(True)
