"""The models this worker can serve: the packaged ones that are installed
and every model under `--model-dir`, each by its content hash."""

import logging
from pathlib import Path

from agent.models import PACKAGED, model_hash

log = logging.getLogger("vcoin.worker")


def local_models(extra_dirs: list[Path]) -> dict[bytes, Path]:
    """content hash -> path, for packaged models and each entry of the dirs."""
    found: dict[bytes, Path] = {}
    for packaged in PACKAGED:
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
