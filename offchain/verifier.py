"""The verifier worker: re-executes the jobs and the published session
samples (`runtime.pallets.session_checks`) the chain gives this validator to
check and submits a verdict by the job kind's comparison rule; it also runs
the validator's known-answer tests (`offchain.known_answers`) and
known-answer sessions (`offchain.known_answer_sessions`, through `serve`).

A check it cannot do (the model is not on this machine) gets no verdict:
the check expires and nobody is slashed. A revealed result that does not
hash to what the provider committed is a mismatch without re-execution.
"""

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import trio

from agent.canonical import decode as decode_result
from agent.executor import Executor, ExecutorError
from agent.job import JobSpec
from offchain.blobs import BlobStore
from offchain.driver import BlockDriven, isolated_step, spawn
from offchain.job_input import InvalidInput, checked_input
from offchain.known_answer_sessions import KnownAnswerSessions
from offchain.known_answers import KnownAnswerTester
from offchain.provider import ChainView
from offchain.records import RecordDir
from runtime.codec import blake2b_256
from runtime.pallets import jobs, registry, session_checks, verification
from runtime.pallets.session_records import Sample
from runtime.session_request import parse_request
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
        # the node's way to a provider's serving desk (`node.serve_protocol.Desks.call`), when it has one
        self.serve: Callable[[bytes, dict[str, Any]], Awaitable[dict[str, Any]]] | None = None
        self.tester = None if known_answers is None else KnownAnswerTester(
            chain, executor, models, blobs, known_answers, secret, self.limiter, job_timeout,
        )  # fmt: skip
        # known-answer sessions (through `serve`), kept beside the known-answer jobs' records
        self.session_tester = None if known_answers is None else KnownAnswerSessions(
            chain, executor, models, RecordDir(known_answers.root / "sessions"), secret, self.limiter, job_timeout,
        )  # fmt: skip

    def step(self, nursery: trio.Nursery) -> None:
        if self.tester is not None:
            tester = self.tester
            isolated_step("known-answer tests", lambda: tester.step(nursery))
        if self.session_tester is not None:
            session_tester = self.session_tester
            session_tester.serve = self.serve
            isolated_step("known-answer sessions", lambda: session_tester.step(nursery))
        state = self.chain.state()
        for check_id in verification.tasks(state, self.chain.account):
            if check_id in self.busy or check_id in self.done:
                continue
            if session_checks.is_session_check(check_id):
                sample = session_checks.sample(state, check_id)
                if sample is not None:
                    self.busy.add(check_id)
                    what = f"session {sample.session} leaf {sample.leaf}"
                    spawn(nursery, f"check of {what}", self._check, check_id, what,
                          partial(self.judge_sample, sample))  # fmt: skip
                continue
            job = jobs.job(state, check_id)
            if job is not None:
                self.busy.add(check_id)
                spawn(nursery, f"check of job {check_id}", self._check, check_id, f"job {check_id}",
                      partial(self.judge, job))  # fmt: skip

    async def _check(self, check_id: int, what: str, judge: Callable[[], Awaitable[bool | None]]) -> None:
        try:
            match = await judge()
        finally:
            self.busy.discard(check_id)
        if match is None:
            return  # retried next block, or left to expire
        self.done.add(check_id)
        try:
            self.chain.submit_call(Call("verification", "verdict", {"job": check_id, "match": match}))
            log.info("%s: verdict %s submitted", what, "match" if match else "MISMATCH")
        except ValueError as exc:
            log.warning("%s: verdict refused: %s", what, exc)

    async def judge_sample(self, sample: Sample) -> bool | None:
        """A published session sample: the request re-executed as the job it
        would be, the published result as the claimed one."""
        what = f"session {sample.session} leaf {sample.leaf}"
        model = registry.model(self.chain.state(), sample.model)
        path = self.models.get(sample.model)
        if model is None or path is None:
            log.warning("%s: cannot verify, the model is not on this machine", what)
            self.done.add(sample.check)
            return None
        try:  # the chain checked it when it was published
            request = parse_request(sample.request, model.kind)
        except ValueError as exc:
            log.warning("%s: cannot verify: %s", what, exc)
            self.done.add(sample.check)
            return None
        spec = JobSpec(request.kind, request.input, dict(request.settings))
        return await self._compare(what, spec, path, sample.result, sample.provider)

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
        return await self._compare(f"job {job.id}", spec, path, claimed, job.provider)

    async def _compare(
        self, what: str, spec: JobSpec, path: Path, claimed: bytes, provider: bytes
    ) -> bool | None:
        try:
            if not isinstance(decode_result(claimed), dict):
                return False
        except Exception:
            return False  # the provider revealed bytes that are no result at all
        try:  # in the sandbox: a teacher-forced check where the kind has one, else re-execution
            verdict = await trio.to_thread.run_sync(self.executor.verify, spec, path, claimed, self.job_timeout,
                                                    limiter=self.limiter)  # fmt: skip
        except ExecutorError as exc:
            log.warning("%s: verification failed (%s); no verdict", what, exc)
            return None
        if not verdict.match:
            log.warning("%s: result of %s does not match: %s", what, provider.hex()[:12], verdict.reason)
        return verdict.match
