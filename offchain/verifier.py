"""The verifier worker: re-executes the jobs the chain gives this validator
to check and submits a verdict by the job kind's comparison rule; it also
runs the validator's known-answer tests (`offchain.known_answers`).

A check it cannot do (the model is not on this machine) gets no verdict:
the check expires and nobody is slashed. A revealed result that does not
hash to what the provider committed is a mismatch without re-execution.
"""

import logging
from pathlib import Path

import trio

from agent.canonical import decode as decode_result
from agent.executor import Executor, ExecutorError
from agent.job import JobSpec
from offchain.blobs import BlobStore
from offchain.driver import BlockDriven, isolated_step, spawn
from offchain.job_input import InvalidInput, checked_input
from offchain.known_answers import KnownAnswerTester
from offchain.provider import ChainView
from offchain.records import RecordDir
from runtime.codec import blake2b_256
from runtime.pallets import jobs, verification
from runtime.types import Call

log = logging.getLogger("vcoin.verifier")


class VerifierWorker(BlockDriven):
    def __init__(
        self, chain: ChainView, executor: Executor, models: dict[bytes, Path], blobs: BlobStore,
        job_timeout: float = 900.0, known_answers: RecordDir | None = None, secret: bytes = b"",
    ) -> None:  # fmt: skip
        """With `known_answers` (where its tests are kept) the worker also
        submits known-answer jobs, paid from accounts derived from `secret`."""
        super().__init__()
        self.chain, self.executor, self.models, self.blobs = chain, executor, models, blobs
        self.job_timeout = job_timeout
        self.busy: set[int] = set()
        self.done: set[int] = set()
        self.limiter = trio.CapacityLimiter(1)  # one sandbox for checks and known answers
        self.tester = None if known_answers is None else KnownAnswerTester(
            chain, executor, models, blobs, known_answers, secret, self.limiter, job_timeout,
        )  # fmt: skip

    def step(self, nursery: trio.Nursery) -> None:
        if self.tester is not None:
            tester = self.tester
            isolated_step("known-answer tests", lambda: tester.step(nursery))
        state = self.chain.state()
        for job_id in verification.tasks(state, self.chain.account):
            if job_id in self.busy or job_id in self.done:
                continue
            job = jobs.job(state, job_id)
            if job is not None:
                self.busy.add(job_id)
                spawn(nursery, f"check of job {job_id}", self._check, job)

    async def _check(self, job: jobs.Job) -> None:
        try:
            match = await self.judge(job)
        finally:
            self.busy.discard(job.id)
        if match is None:
            return  # retried next block, or left to expire
        self.done.add(job.id)
        try:
            self.chain.submit_call(Call("verification", "verdict", {"job": job.id, "match": match}))
            log.info("job %d: verdict %s submitted", job.id, "match" if match else "MISMATCH")
        except ValueError as exc:
            log.warning("job %d: verdict refused: %s", job.id, exc)

    async def judge(self, job: jobs.Job) -> bool | None:
        """True/False for a verdict, None when this node cannot judge (yet)."""
        claimed = job.result or self.blobs.get(job.result_hash)
        raw_input = job.input or self.blobs.get(job.input_hash)
        if claimed is None or raw_input is None:
            if claimed is None:
                self.chain.want_blob(job.result_hash)
            if raw_input is None:
                self.chain.want_blob(job.input_hash, job.input_size)
            return None
        if blake2b_256(claimed) != job.result_hash:
            return False
        path = self.models.get(job.model)
        if path is None:
            log.warning("job %d: cannot verify, the model is not on this machine", job.id)
            self.done.add(job.id)
            return None
        try:
            spec = JobSpec(job.kind, checked_input(job, raw_input), dict(job.options))
        except InvalidInput as exc:  # the provider should have refused it; nothing to compare
            log.warning("job %d: cannot verify: %s", job.id, exc)
            self.done.add(job.id)
            return None
        try:
            if not isinstance(decode_result(claimed), dict):
                return False
        except Exception:
            return False  # the provider revealed bytes that are no result at all
        try:  # in the sandbox: a teacher-forced check where the kind has one, else re-execution
            verdict = await trio.to_thread.run_sync(self.executor.verify, spec, path, claimed, self.job_timeout,
                                                    limiter=self.limiter)  # fmt: skip
        except ExecutorError as exc:
            log.warning("job %d: verification failed (%s); no verdict", job.id, exc)
            return None
        if not verdict.match:
            log.warning(
                "job %d: result of %s does not match: %s", job.id, job.provider.hex()[:12], verdict.reason
            )
        return verdict.match
