"""`inference`: greedy decoding with a causal LM.

The result holds the new token ids, their text, and for every step the
runner-up token and the margin between the top two logits. Compare: the
claimed tokens must equal the re-execution's, except that at a step where
the re-executor's own top-2 margin is below `NEAR_TIE` logits the claimed
token may be its runner-up instead; from that divergence on, two honest
machines legitimately continue differently (float summation order differs
between CPU and GPU kernels by ~1e-4 logits in fp32, ~1e-2 in bf16), so
nothing after it is judged.
"""

from pathlib import Path
from typing import Any

from agent import loading
from agent.canonical import from_fixed, to_fixed
from agent.job import JobSpec, Verdict

NEAR_TIE = 0.05


def run(spec: JobSpec, model_path: Path, device: str) -> dict[str, Any]:
    import torch

    tokenizer, model = loading.causal_lm(model_path, device)
    encoded = tokenizer(str(spec.input), return_tensors="pt")
    prompt = {k: encoded[k].to(device) for k in ("input_ids", "attention_mask")}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.inference_mode():
        out = model.generate(
            **prompt, max_new_tokens=spec.options.get("max_tokens", 16), do_sample=False,
            output_logits=True, return_dict_in_generate=True, pad_token_id=pad if pad is not None else 0,
        )  # fmt: skip
    tokens = out.sequences[0, prompt["input_ids"].shape[1] :].tolist()
    margins, runner_up = [], []
    for step_logits in out.logits[: len(tokens)]:
        top = torch.topk(step_logits[0].float(), 2)
        margins.append(float(top.values[0] - top.values[1]))
        runner_up.append(int(top.indices[1]))
    text = tokenizer.decode(tokens, skip_special_tokens=True)
    return {"tokens": tokens, "text": text, "margins": to_fixed(margins), "runner_up": runner_up}


def compare(reference: dict[str, Any], claimed: dict[str, Any]) -> Verdict:
    ref_tokens, got = reference.get("tokens", []), claimed.get("tokens")
    margins = from_fixed(reference.get("margins", []))
    runner_up = reference.get("runner_up", [])
    if not isinstance(got, list) or not all(isinstance(t, int) for t in got):
        return Verdict(False, "tokens are not a list of ids")
    for step, (want, have) in enumerate(zip(ref_tokens, got, strict=False)):
        if want == have:
            continue
        if margins[step] < NEAR_TIE and step < len(runner_up) and have == runner_up[step]:
            return Verdict(True, f"near-tie at step {step}: the rest is not judged")
        return Verdict(False, f"token {step}: {have} where greedy decoding gives {want}")
    if len(got) != len(ref_tokens):
        return Verdict(False, f"{len(got)} tokens where greedy decoding gives {len(ref_tokens)}")
    return Verdict(True)


def check(spec: JobSpec, model_path: Path, device: str, claimed: dict[str, Any]) -> Verdict:
    """Verify a claimed result with one teacher-forced forward pass over the
    prompt and the claimed tokens (a prefill, not a decode loop): every
    claimed token must be the argmax there, or its runner-up at a near-tie
    (after which nothing is judged); a result shorter than `max_tokens` must
    end at the end-of-sequence token."""
    import torch

    tokens = claimed.get("tokens")
    limit = spec.options.get("max_tokens", 16)
    if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens) or len(tokens) > limit:
        return Verdict(False, "tokens are not a list of at most max_tokens ids")
    tokenizer, model = loading.causal_lm(model_path, device)
    prompt = tokenizer(str(spec.input), return_tensors="pt")["input_ids"]
    ids = torch.cat([prompt, torch.tensor([tokens], dtype=prompt.dtype)], dim=1).to(device)
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0].float()
    start = prompt.shape[1] - 1
    for step, token in enumerate(tokens):
        top = torch.topk(logits[start + step], 2)
        if token == int(top.indices[0]):
            continue
        margin = float(top.values[0] - top.values[1])
        if margin < NEAR_TIE and token == int(top.indices[1]):
            return Verdict(True, f"near-tie at step {step}: the rest is not judged")
        return Verdict(False, f"token {step}: {token} is not what greedy decoding picks")
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else model.config.eos_token_id
    if len(tokens) < limit and eos is not None and (not tokens or tokens[-1] != eos):
        return Verdict(False, f"{len(tokens)} tokens without an end of sequence, below max_tokens")
    return Verdict(True)
