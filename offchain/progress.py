"""What the provider worker has done per job, persisted so that a restart
neither loses a job nor submits twice: one small msgpack file per job,
replaced atomically on every change."""

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from offchain.records import RecordDir

RUNNING, DONE, FAILED = "running", "done", "failed"
WAITING = "waiting"  # a group member whose group broke: it runs again when the group re-forms


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
    attempts: int = 0  # runs started: a job that keeps killing its node is not started forever
    invalid: bool = False  # the input can never run: refused on chain, never run
    refuse_sent: int = -1
    rendezvous: str = ""  # a member of a job spread over providers: where the group meets
    resume: bytes = b""  # ... the partial result (a blob) it goes on from when the group broke
    rounds_done: int = 0
    progress_sent: int = -1  # block number when jobs.progress was submitted for this wait
    broken_at: int = -1  # block number when its group last broke
    first_round: int = 0  # the first round its result delivered (a replacement's: > 0)
    delivered_sent: int = -1
    start_sent: int = -1  # block number when jobs.start was submitted (it began running then)
    declined: bool = False  # given back on chain (jobs.decline): it could not be committed in time
    decline_sent: int = -1

    def but(self, **changes: object) -> "JobProgress":
        return replace(self, **changes)  # type: ignore[arg-type]


class ProgressStore:
    def __init__(self, root: Path) -> None:
        self.records = RecordDir(root)

    def get(self, job: int) -> JobProgress | None:
        record = self.records.get(f"job-{job}")
        return None if record is None else JobProgress(**record)

    def put(self, progress: JobProgress) -> None:
        self.records.put(f"job-{progress.job}", asdict(progress))

    def forget(self, job: int) -> None:
        self.records.forget(f"job-{job}")
