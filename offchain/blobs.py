"""A content-addressed blob store: results too large for a block, and
inputs referenced by hash. Files are named by their BLAKE2b-256 hash and
written atomically, so a crash never leaves a blob that lies about itself."""

import os
import tempfile
from pathlib import Path

from runtime.codec import blake2b_256

MAX_BLOB = 512 * 1024 * 1024


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: bytes) -> Path:
        name = digest.hex()
        return self.root / name[:2] / name

    def put(self, data: bytes) -> bytes:
        if len(data) > MAX_BLOB:
            raise ValueError(f"blobs are at most {MAX_BLOB} bytes")
        digest = blake2b_256(data)
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        return digest

    def get(self, digest: bytes) -> bytes | None:
        path = self._path(digest)
        if not path.exists():
            return None
        data = path.read_bytes()
        return data if blake2b_256(data) == digest else None

    def has(self, digest: bytes) -> bool:
        return self._path(digest).exists()
