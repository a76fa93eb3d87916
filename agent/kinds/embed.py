"""`embed`: sentence embeddings, mean-pooled over tokens and L2-normalised
(the all-MiniLM-L6-v2 recipe).

Compare: every vector's cosine similarity with the re-execution must be at
least `MIN_COSINE`. Honest CPU/GPU differences in float summation order
change embeddings around 1e-6 (cosine above 0.99999); a different model or
made-up numbers land far below 0.99.
"""

from pathlib import Path
from typing import Any

from agent import loading
from agent.canonical import from_fixed, to_fixed
from agent.job import JobSpec, Verdict

MIN_COSINE = 0.999
MAX_LENGTH = 256


def run(spec: JobSpec, model_path: Path, device: str) -> dict[str, Any]:
    import torch

    tokenizer, model = loading.encoder(model_path, device)
    batch = tokenizer(
        list(spec.input), padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt"
    ).to(device)
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    vectors = torch.nn.functional.normalize(pooled, p=2, dim=1)
    return {"vectors": to_fixed(vectors.float().cpu().tolist())}


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = (sum(x * x for x in a) * sum(y * y for y in b)) ** 0.5
    return dot / norm if norm else 0.0


def compare(reference: dict[str, Any], claimed: dict[str, Any]) -> Verdict:
    ref, got = reference.get("vectors"), claimed.get("vectors")
    if not isinstance(got, list) or not isinstance(ref, list) or len(got) != len(ref):
        return Verdict(False, "wrong number of vectors")
    for index, (a, b) in enumerate(zip(ref, got, strict=True)):
        if not isinstance(b, list) or len(a) != len(b):
            return Verdict(False, f"vector {index} has the wrong size")
        similarity = _cosine(from_fixed(a), from_fixed(b))
        if similarity < MIN_COSINE:
            return Verdict(False, f"vector {index}: cosine {similarity:.6f} < {MIN_COSINE}")
    return Verdict(True)
