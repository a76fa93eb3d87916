"""One known-answer test: the record a validator's worker keeps of it (on
disk, so a restart loses no salt), and the judgement of a provider's result
against the known answer."""

import logging
from dataclasses import dataclass
from pathlib import Path

import trio

from agent.canonical import decode as decode_result
from agent.executor import Executor, ExecutorError
from agent.job import JobSpec
from agent.kinds import KINDS
from runtime.codec import blake2b_256, decode
from runtime.pallets import known_answers

log = logging.getLogger("vcoin.known_answers")
SEALING, SEALED, SUBMITTED, RUNNING = "sealing", "sealed", "submitted", "running"


@dataclass(frozen=True)
class Test:
    name: str
    account: int
    kind: str
    model: bytes
    input: bytes
    settings: dict[str, int]
    max_fee: int
    deadline: int  # blocks from submission
    min_reputation: int
    expected: bytes  # the canonical result this validator computed
    salt: bytes
    referenced: bool = False  # the input goes by hash, as the template's did
    phase: str = SEALING
    sent: int = -1  # block of the phase's last transaction
    submit_after: int = 0
    floor: int = 0  # the next job id when the job was sent: it cannot be lower
    job: int = -1

    @property
    def seal(self) -> bytes:
        task = known_answers.task_of(self.kind, self.model, blake2b_256(self.input), self.settings)
        return known_answers.seal_of(task, blake2b_256(self.expected), self.salt)


async def judge(
    test: Test,
    claimed: bytes,
    executor: Executor,
    model_path: Path,
    limiter: trio.CapacityLimiter,
    timeout: float,
) -> bool | None:
    """Whether a revealed result is the known answer, by the kind's rule:
    the same bytes; else the kind's teacher-forced check in the sandbox
    where it has one (it also checks the fingerprint); else a comparison
    with the answer computed before."""
    if claimed == test.expected:
        return True
    try:
        reference, got = decode_result(test.expected), decode_result(claimed)
    except Exception:
        return False
    if not isinstance(got, dict):
        return False
    kind = KINDS[test.kind]
    if not hasattr(kind, "check"):
        verdict = await trio.to_thread.run_sync(kind.compare, reference, got)
        return bool(verdict.match)
    spec = JobSpec(test.kind, decode(test.input, max_len=len(test.input)), dict(test.settings))
    try:
        check = await trio.to_thread.run_sync(executor.verify, spec, model_path, claimed, timeout,
                                              limiter=limiter)  # fmt: skip
    except ExecutorError as exc:
        log.warning("known-answer check failed in the sandbox: %s", exc)
        return None
    return check.match
