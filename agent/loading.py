"""Loading models once per process: the executor's runner keeps the last few
loaded, so back-to-back jobs on one model pay the load only once."""

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

CACHE_SIZE = 2
# Every machine computes in fp32, whatever the checkpoint's dtype: CPU and GPU
# fp32 kernels agree to ~1e-5 in logits, bf16 ones only to ~1e-2, and the
# verifiers' tolerances (`agent.fingerprint`, the kinds' compare) assume fp32.
FLOAT32 = "float32"
_cache: OrderedDict[tuple[str, str, str], Any] = OrderedDict()

# No hub: every model is a local directory or file.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _cached(key: tuple[str, str, str], build: Any) -> Any:
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    value = build()
    _cache[key] = value
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return value


def _source(path: Path) -> tuple[str, dict[str, str]]:
    """A GGUF file loads through its directory and `gguf_file`."""
    if path.is_file() and path.suffix == ".gguf":
        return str(path.parent), {"gguf_file": path.name}
    return str(path), {}


def causal_lm(path: Path, device: str) -> tuple[Any, Any]:
    def build() -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source, extra = _source(path)
        tokenizer = AutoTokenizer.from_pretrained(source, **extra)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=FLOAT32, **extra)
        return tokenizer, model.to(device).eval()  # type: ignore[arg-type]

    return _cached(("causal", str(path), device), build)  # type: ignore[no-any-return]


def encoder(path: Path, device: str) -> tuple[Any, Any]:
    def build() -> tuple[Any, Any]:
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModel.from_pretrained(str(path), dtype=FLOAT32).to(device).eval()
        return tokenizer, model

    return _cached(("encoder", str(path), device), build)  # type: ignore[no-any-return]


def best_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
