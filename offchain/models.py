"""The models this worker can serve: the packaged ones that are installed
and every model under `--model-dir`, each by its content hash."""

import logging
from pathlib import Path

from agent.models import PACKAGED, model_hash

log = logging.getLogger("vcoin.worker")


def packaged_names() -> list[str]:
    """Every packaged model's name, installed or not."""
    return [packaged.name for packaged in PACKAGED]


def local_models(extra_dirs: list[Path], packaged_names: tuple[str, ...] | None = None) -> dict[bytes, Path]:
    """content hash -> path, for the packaged models (those named, when
    `packaged_names` is given) and each entry of the dirs."""
    found: dict[bytes, Path] = {}
    for packaged in PACKAGED:
        if packaged_names is not None and packaged.name not in packaged_names:
            continue
        path = packaged.path()
        if path is not None:
            found[model_hash(path)] = path
    for directory in extra_dirs:
        candidates = [directory] if (directory / "config.json").exists() else sorted(directory.iterdir())
        for path in candidates:
            if path.is_dir() or path.suffix == ".gguf":
                try:
                    found[model_hash(path)] = path
                except (OSError, ValueError) as exc:
                    log.warning("skipping model %s: %s", path, exc)
    return found
