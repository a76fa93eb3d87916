"""A content-addressed blob store: results too large for a block, and
inputs referenced by hash. Files are named by their BLAKE2b-256 hash and
written atomically, so a crash never leaves a blob that lies about itself.

The store is bounded: past its quota, `collect` deletes the blobs touched
least recently (a file's mtime is the last time the chain referenced it or
it was written), never one touched within `keep_fresh` seconds, so what an
open job needs stays and what nobody paid for goes first.

Uploads that no job references yet (`put(..., staged=True)`, what
`vcoin_putBlob` stores before its job is submitted) live in a staging share
of the quota, oldest out first, until a block names them: an uploader can
churn only its own share, never fill the store for the hour that fresh
blobs are kept."""

import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path

from runtime.codec import blake2b_256

MAX_BLOB = 512 * 1024 * 1024
DEFAULT_QUOTA = 8 << 30
KEEP_FRESH_SECONDS = 3600.0  # longer than any job's commit and reveal windows
STAGING_SHARE = 8  # unreferenced uploads may take 1/8 of the quota


class BlobStoreFull(ValueError):
    """No room for another blob until old ones are collected."""


class BlobStore:
    def __init__(
        self, root: Path, quota: int = DEFAULT_QUOTA, keep_fresh: float = KEEP_FRESH_SECONDS
    ) -> None:
        self.root = root
        self.quota, self.keep_fresh = quota, keep_fresh
        root.mkdir(parents=True, exist_ok=True)
        files = self._files()
        self.used = sum(size for _, size, _ in files)
        self.count = len(files)  # kept beside `used`, so reporting it never lists the store
        self.staged: dict[bytes, int] = {}  # unreferenced uploads, oldest first, and their sizes
        self._lock = threading.Lock()  # `collect` runs in a thread beside `put`

    def _path(self, digest: bytes) -> Path:
        name = digest.hex()
        return self.root / name[:2] / name

    def put(self, data: bytes, staged: bool = False) -> bytes:
        if len(data) > MAX_BLOB:
            raise ValueError(f"blobs are at most {MAX_BLOB} bytes")
        digest = blake2b_256(data)
        path = self._path(digest)
        if path.exists():
            if not staged:
                self.touch(digest)
        else:
            if staged:
                self._make_staging_room(len(data))
            if self.used + len(data) > self.quota:
                self.collect(incoming=len(data))
            if self.used + len(data) > self.quota:
                raise BlobStoreFull(
                    f"the blob store holds {self.used >> 20} MiB of its {self.quota >> 20} MiB quota"
                )
            with self._lock:
                self.used += len(data)
                self.count += 1
            path.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            if staged:
                self.staged[digest] = len(data)
        return digest

    def _make_staging_room(self, size: int) -> None:
        room = self.quota // STAGING_SHARE
        if size > room:
            raise BlobStoreFull(f"an upload no job references yet may be at most {room >> 20} MiB")
        with self._lock:
            while self.staged and sum(self.staged.values()) + size > room:
                oldest = next(iter(self.staged))
                del self.staged[oldest]
                with contextlib.suppress(OSError):
                    path = self._path(oldest)
                    freed = path.stat().st_size
                    path.unlink()
                    self.used -= freed
                    self.count -= 1

    def get(self, digest: bytes) -> bytes | None:
        path = self._path(digest)
        if not path.exists():
            return None
        data = path.read_bytes()
        return data if blake2b_256(data) == digest else None

    def has(self, digest: bytes) -> bool:
        return self._path(digest).exists()

    def touch(self, digest: bytes, size: int | None = None) -> None:
        """The chain referenced this blob (as `size` bytes, when it says): keep it."""
        path = self._path(digest)
        with contextlib.suppress(OSError):
            if size is not None and path.stat().st_size != size:
                return  # named by a job that did not pay for it
            with self._lock:
                self.staged.pop(digest, None)
            os.utime(path)

    def collect(self, incoming: int = 0, target: float = 0.9) -> int:
        """Delete the least recently touched blobs until the store, with
        `incoming` more bytes, is below `target` of its quota; returns the
        bytes freed."""
        if self.used + incoming <= self.quota * target:
            return 0
        fresh_after = time.time() - self.keep_fresh
        freed = deleted = 0
        for mtime, size, path in sorted(self._files()):
            if self.used + incoming - freed <= self.quota * target or mtime > fresh_after:
                break
            with contextlib.suppress(OSError), self._lock:
                if path.stat().st_mtime > fresh_after:
                    continue  # touched since the listing
                path.unlink()
                freed += size
                deleted += 1
                with contextlib.suppress(ValueError):
                    self.staged.pop(bytes.fromhex(path.name), None)
        with self._lock:
            self.used -= freed
            self.count -= deleted
        return freed

    def _files(self) -> list[tuple[float, int, Path]]:
        found = []
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                with contextlib.suppress(OSError):
                    info = entry.stat()
                    found.append((info.st_mtime, info.st_size, Path(entry.path)))
        return found
