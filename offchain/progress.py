"""What the provider worker has done per job, persisted so that a restart
neither loses a job nor submits twice: one small msgpack file per job,
replaced atomically on every change."""

import os
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import msgpack

RUNNING, DONE, FAILED = "running", "done", "failed"


@dataclass(frozen=True)
class JobProgress:
    job: int
    assigned_at: int
    state: str = RUNNING
    result_hash: bytes = b""
    salt: bytes = b""
    inline: bool = False
    commit_sent: int = -1  # block number when the commit was submitted
    reveal_sent: int = -1
    error: str = ""

    def but(self, **changes: object) -> "JobProgress":
        return replace(self, **changes)  # type: ignore[arg-type]


class ProgressStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, job: int) -> Path:
        return self.root / f"job-{job}.msgpack"

    def get(self, job: int) -> JobProgress | None:
        path = self._path(job)
        if not path.exists():
            return None
        return JobProgress(**msgpack.unpackb(path.read_bytes(), raw=False))

    def put(self, progress: JobProgress) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root)
        with os.fdopen(fd, "wb") as handle:
            handle.write(msgpack.packb(asdict(progress), use_bin_type=True))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path(progress.job))

    def forget(self, job: int) -> None:
        self._path(job).unlink(missing_ok=True)
