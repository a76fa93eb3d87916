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
