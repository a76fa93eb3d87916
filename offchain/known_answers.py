"""Known-answer jobs: a validator's worker tests providers with jobs whose
answer it already knows.

For about `known_answer_rate_ppm` of the market's jobs (shared out among the
active validators), the worker takes an ordinary job it just saw as a
template, makes a fresh input of the same shape (`known_answer_inputs`),
computes the answer in its own sandbox, and then:

1. seals `H(task || answer hash || salt)` from the validator's account: the
   seal names no job;
2. waits a few blocks, so the seal's timing points at no job, and submits
   the job from one of its ordinary-looking accounts (keys derived from the
   validator's key, funded by plain transfers when they run low) with the
   template's kind, model, settings, fee and deadline;
3. after the provider's reveal, opens the seal, saying whether the revealed
   result matches the answer by the kind's comparison rule (honest hardware
   noise changes the hash, not the verdict). A failure goes to a dispute.

Each test is a record on disk, written before its transaction is sent, so a
restart neither loses a salt nor sends a job twice.
"""

import logging
import os
import random
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import trio

from agent.executor import Executor, ExecutorError
from agent.job import JobSpec
from offchain.blobs import BlobStore
from offchain.driver import spawn
from offchain.job_input import InvalidInput, job_input
from offchain.known_answer_inputs import TextPool
from offchain.known_answer_record import RUNNING, SEALED, SEALING, SUBMITTED, Test, judge
from offchain.provider import ChainView
from offchain.records import RecordDir
from runtime.codec import blake2b_256, encode
from runtime.constants import MAX_INLINE_INPUT, PPM, UNIT
from runtime.crypto import Keypair
from runtime.pallets import balances, jobs, known_answers, registry, staking
from runtime.pallets.system import params as chain_params
from runtime.state import State
from runtime.types import Call

log = logging.getLogger("vcoin.known_answers")
ACCOUNTS = 16  # ordinary-looking accounts per validator
MAX_OPEN = 8  # tests in flight at once
HOLD = (2, 8)  # blocks between the seal's inclusion and the job
RESEND_AFTER = 5
GIVE_UP_AFTER = 40  # blocks a sent job may take to show up on chain
WAIT_FOR_INPUT = 20  # blocks a template's referenced input may take to arrive
TX_MARGIN = UNIT // 10  # for the accounts' own transaction fees
CLOSED = (jobs.JobStatus.SETTLED, jobs.JobStatus.REFUNDED, jobs.JobStatus.REJECTED)


def known_answer_accounts(secret: bytes) -> list[Keypair]:
    """The validator's ordinary-looking accounts, derived from its key's seed:
    they submit known-answer jobs and open known-answer sessions."""
    return [Keypair(blake2b_256(b"vcoin-known-answer-account" + secret + i.to_bytes(4, "big")))
            for i in range(ACCOUNTS)]  # fmt: skip


class KnownAnswerTester:
    def __init__(
        self, chain: ChainView, executor: Executor, models: dict[bytes, Path], blobs: BlobStore,
        records: RecordDir, secret: bytes, limiter: trio.CapacityLimiter, job_timeout: float = 900.0,
        rng: random.Random | None = None,
    ) -> None:  # fmt: skip
        self.chain, self.executor, self.models, self.blobs = chain, executor, models, blobs
        self.records, self.limiter, self.job_timeout = records, limiter, job_timeout
        self.rng = rng or random.SystemRandom()
        self.accounts = known_answer_accounts(secret)
        self.ours = {key.public for key in self.accounts}
        self.pool = TextPool()
        self.tests = {name: Test(**rec) for name in records.names() if (rec := records.get(name)) is not None}
        sent = [t.floor for t in self.tests.values() if t.phase == SUBMITTED]
        self.next_job: int | None = min(sent) if sent else None
        self.preparing = 0
        self.waiting: dict[int, tuple[jobs.Job, int]] = {}  # templates whose input blob is on its way
        self.judging: set[str] = set()

    def step(self, nursery: trio.Nursery) -> None:
        state, number = self.chain.state(), self.chain.best_number()
        self._observe(state, number, nursery)
        for job, since in list(self.waiting.values()):
            value = self._input_of(job)
            if value is not None or number - since > WAIT_FOR_INPUT:
                del self.waiting[job.id]
            if value is not None:
                self.pool.learn(job.kind, value)
                self._start(nursery, job, value)
        for test in list(self.tests.values()):
            self._advance(nursery, state, number, test)

    # -- watching the market ---------------------------------------------------
    def _observe(self, state: State, number: int, nursery: trio.Nursery) -> None:
        end = jobs.NextId.get(state)
        start = min(end, end if self.next_job is None else self.next_job)
        self.next_job = end
        for job_id in range(start, end):
            job = jobs.job(state, job_id)
            if job is None:
                continue
            if job.submitter in self.ours:
                self._found(job)
                continue
            value = self._input_of(job) if job.input else None  # a referenced one is read for a template only
            if value is not None:
                self.pool.learn(job.kind, value)
            if not self._should_test(state, job):
                continue
            if value is not None:
                self._start(nursery, job, value)
            elif not job.input:  # fetched first (if not here), so large jobs are tested too
                if not self.blobs.has(job.input_hash):
                    self.chain.want_blob(job.input_hash, job.input_size)
                self.waiting[job.id] = (job, number)

    def _start(self, nursery: trio.Nursery, template: jobs.Job, value: Any) -> None:
        self.preparing += 1
        spawn(nursery, f"known-answer test from job {template.id}", self._prepare, template, value)

    def _input_of(self, job: jobs.Job) -> Any:
        try:
            return job_input(job, self.blobs)
        except InvalidInput:
            return None  # no template: its provider refuses it

    def _should_test(self, state: State, job: jobs.Job) -> bool:
        if job.model not in self.models or len(self.tests) + self.preparing + len(self.waiting) >= MAX_OPEN:
            return False
        if not any(p != self.chain.account for p in registry.Serving.get(state, job.model)):
            return False  # nobody but this node to test (a dev chain)
        rate = chain_params(state).known_answer_rate_ppm
        share = rate / max(1, PPM - rate) / max(1, len(staking.Active.get(state)))
        return self.rng.random() < share  # tests / ordinary jobs = rate / (1 - rate), network-wide

    def _found(self, job: jobs.Job) -> None:
        for test in self.tests.values():
            mine = self.accounts[test.account].public == job.submitter
            if test.phase == SUBMITTED and mine and blake2b_256(test.input) == job.input_hash:
                self._save(replace(test, phase=RUNNING, job=job.id, sent=-1))
                return

    # -- one test ----------------------------------------------------------------
    async def _prepare(self, template: jobs.Job, value: Any) -> None:
        try:
            fresh = self.pool.make_input(template.kind, value, self.rng)
            spec = JobSpec(template.kind, fresh, dict(template.options))
            done = await trio.to_thread.run_sync(self.executor.run, spec, self.models[template.model],
                                                 self.job_timeout, limiter=self.limiter)  # fmt: skip
        except ExecutorError as exc:
            log.warning("known-answer job not prepared: %s", exc)
            return
        finally:
            self.preparing -= 1
        raw = encode(fresh)
        referenced = not template.input or len(raw) > MAX_INLINE_INPUT
        if referenced:
            self.blobs.put(raw)  # served to the provider from here, like any referenced input
        test = Test(
            name=os.urandom(8).hex(), account=self.rng.randrange(ACCOUNTS), kind=template.kind,
            model=template.model, input=raw, settings=dict(template.options), max_fee=template.max_fee,
            deadline=template.deadline - template.created, min_reputation=template.min_reputation,
            expected=done.encoded, salt=os.urandom(32), referenced=referenced,
        )  # fmt: skip
        self._send(test, self.chain.best_number(), Call("known_answers", "seal", {"seal": test.seal}))
        log.info("known-answer test %s (%s) sealed", test.name, test.kind)

    def _advance(self, nursery: trio.Nursery, state: State, number: int, test: Test) -> None:
        due = test.sent < 0 or number - test.sent >= RESEND_AFTER
        sealed = known_answers.Seals.contains(state, test.seal)
        if test.phase == SEALING and sealed:
            self._save(replace(test, phase=SEALED, sent=-1, submit_after=number + self.rng.randint(*HOLD)))
        elif test.phase == SEALING and due:
            self._send(test, number, Call("known_answers", "seal", {"seal": test.seal}))
        elif test.phase == SEALED and number >= test.submit_after:
            self._submit_job(state, number, test, due)
        elif test.phase == SUBMITTED and number - test.sent > GIVE_UP_AFTER:
            self._drop(test, "its job never reached the chain")
        elif test.phase == RUNNING:
            self._open(nursery, state, test, sealed, due)

    def _submit_job(self, state: State, number: int, test: Test, due: bool) -> None:
        payer = self.accounts[test.account]
        on_the_way = sum(t.max_fee + TX_MARGIN for t in self.tests.values()
                         if t.account == test.account and t.phase == SUBMITTED)  # fmt: skip
        if balances.get(state, payer.public).free < on_the_way + test.max_fee + TX_MARGIN:
            if due:  # plain transfers, as from an exchange or a friend, a few jobs' worth
                amount = -(-(test.max_fee + TX_MARGIN) * self.rng.randint(2, 6) // UNIT) * UNIT
                self._send(test, number, Call("balances", "transfer", {"to": payer.public, "amount": amount}))
            return
        inline = not test.referenced
        call = Call("jobs", "submit", {
            "kind": test.kind, "model": test.model, "input": test.input if inline else b"",
            "input_hash": b"" if inline else blake2b_256(test.input), "input_size": 0 if inline else len(test.input),
            "options": test.settings, "max_fee": test.max_fee, "deadline": test.deadline,
            "min_reputation": test.min_reputation,
        })  # fmt: skip
        self._save(replace(test, phase=SUBMITTED, sent=number, floor=jobs.NextId.get(state)))
        try:
            self.chain.submit_call_as(payer, call)
        except ValueError as exc:
            self._drop(test, f"the job was refused: {exc}")

    def _open(self, nursery: trio.Nursery, state: State, test: Test, sealed: bool, due: bool) -> None:
        job = jobs.job(state, test.job)
        if test.sent >= 0 and not sealed:
            self._drop(test, "opened", level=logging.INFO)
        elif job is None or job.status in CLOSED:
            self._drop(test, "the job closed before its result could be judged")
        elif job.status == jobs.JobStatus.REVEALED and due and test.name not in self.judging:
            claimed = job.result or self.blobs.get(job.result_hash)
            if claimed is None:
                self.chain.want_blob(job.result_hash)
                return
            self.judging.add(test.name)
            spawn(
                nursery, f"known-answer judgement of job {job.id}", self._judge_and_open, test, job, claimed
            )

    async def _judge_and_open(self, test: Test, job: jobs.Job, claimed: bytes) -> None:
        try:
            matches = await judge(
                test, claimed, self.executor, self.models[test.model], self.limiter, self.job_timeout
            )
        finally:
            self.judging.discard(test.name)
        if matches is None:
            return  # the sandbox failed: judged again next block
        log.log(logging.INFO if matches else logging.WARNING, "known-answer job %d: the result of %s is %s",
                job.id, job.provider.hex()[:12], "right" if matches else "wrong")  # fmt: skip
        self._send(test, self.chain.best_number(), Call("known_answers", "open", {
            "job": job.id, "expected_hash": blake2b_256(test.expected), "salt": test.salt, "matches": matches,
        }))  # fmt: skip

    # -- records and transactions ------------------------------------------------
    def _save(self, test: Test) -> None:
        self.records.put(test.name, asdict(test))
        self.tests[test.name] = test

    def _drop(self, test: Test, why: str, level: int = logging.WARNING) -> None:
        log.log(level, "known-answer test %s (job %d): %s", test.name, test.job, why)
        self.records.forget(test.name)
        self.tests.pop(test.name, None)

    def _send(self, test: Test, number: int, call: Call) -> None:
        self._save(replace(test, sent=number))  # first the record, then the transaction
        try:
            self.chain.submit_call(call)
        except ValueError as exc:
            log.warning("known-answer %s.%s refused: %s", call.pallet, call.name, exc)
