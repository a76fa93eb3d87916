"""The provider worker: runs the jobs the chain assigns to this node's key.

After every imported block it reads its assignments from the state, starts
new jobs on the executor (in a thread, so block import never waits), and
moves finished ones through commit and reveal. Every step is recorded in a
`ProgressStore` before the matching transaction is submitted, so a restart
resumes: finished results are committed or revealed, interrupted jobs run
again, and nothing is submitted twice unless the first one was lost.
It also registers the provider for the local models the chain knows, once
each is loaded (`offchain.warmup`: warm before online), and sends one
heartbeat per era.
"""

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import trio

from agent.executor import Executor, ExecutorError, SandboxLost
from agent.job import JobSpec
from offchain import group_keys, group_member
from offchain.blobs import BlobStore
from offchain.driver import BlockDriven, isolated_step, spawn
from offchain.job_input import InvalidInput, job_input
from offchain.progress import DONE, FAILED, RUNNING, WAITING, JobProgress, ProgressStore
from offchain.warmup import Warmup
from runtime.constants import MAX_INLINE_RESULT
from runtime.crypto import Keypair
from runtime.pallets import jobs, registry, staking
from runtime.pallets.system import params as chain_params
from runtime.state import State
from runtime.types import Call

if TYPE_CHECKING:
    from offchain.serving import ServingDesk

log = logging.getLogger("vcoin.worker")
RESEND_AFTER = 5  # blocks without effect before a commit or reveal is sent again
# A job still running this many blocks before its commit is due is stopped and
# declined (`jobs.decline`): the decline must land inside the window.
DECLINE_MARGIN = 2
MAX_ATTEMPTS = 3  # runs of one job cut short (the node died, the sandbox was lost) before it is given up


class Concern(StrEnum):
    """Why the worker cannot serve: each is warned about once, and again
    only after it cleared and came back (one never silences another)."""

    UNREGISTERED = "none of the local models is registered on chain"
    LOW_BOND = "the bond is below the providers' minimum"
    CHILLED = "chilled after proven cheating"
    UNLOADABLE = "none of the local models registered on chain could be loaded"


class ChainView(Protocol):
    """What the worker may do with the node: read state, submit signed calls."""

    account: bytes
    key: Keypair  # the node's own: what it signs with, and derives a group job's keys from

    def state(self) -> State: ...

    def best_number(self) -> int: ...

    def submit_call(self, call: Call) -> bytes: ...

    def submit_call_as(self, key: Keypair, call: Call) -> bytes:
        """Signed with another key of this node's (known-answer accounts)."""
        ...

    def want_blob(self, digest: bytes, max_size: int = ...) -> None:
        """Fetch a blob from peers, accepting at most `max_size` bytes."""
        ...


@dataclass(frozen=True)
class WorkerConfig:
    price: int  # base units per work unit
    memory_mb: int
    job_timeout: float = 900.0
    api_url: str = ""  # where this node takes session requests over HTTP, published on chain
    rendezvous_host: str = "127.0.0.1"  # where other providers reach this one's runner for a group job


class ProviderWorker(BlockDriven):
    def __init__(
        self, chain: ChainView, executor: Executor, models: dict[bytes, Path], blobs: BlobStore,
        progress: ProgressStore, config: WorkerConfig,
    ) -> None:  # fmt: skip
        super().__init__()
        self.chain, self.executor, self.models = chain, executor, models
        self.blobs, self.progress, self.config = blobs, progress, config
        self.running: set[int] = set()
        self.executing: set[int] = set()  # running jobs the executor has now (the others wait for it)
        self.stopping: set[int] = set()  # running jobs declined: they end without a result
        self.limiter = trio.CapacityLimiter(1)  # one executor, one job at a time
        self._registration_sent = -RESEND_AFTER
        self._api_url_sent = -RESEND_AFTER
        self.warned: set[Concern] = set()  # the concerns warned about that still hold
        self.desk: ServingDesk | None = None  # the sessions it serves, when the node has a desk
        self.on_executed: Callable[[str, float], None] | None = None  # (kind, seconds): the node's metrics
        self.warmup = Warmup()

    async def run(self) -> None:
        log.info("provider worker for %d local model(s), executor %s", len(self.models), self.executor.name)
        await super().run()

    # -- every block ---------------------------------------------------------
    def step(self, nursery: trio.Nursery) -> None:
        state, number = self.chain.state(), self.chain.best_number()
        isolated_step("warm-up", lambda: self._keep_warm(nursery, state))
        isolated_step("registration", lambda: self._keep_registered(state, number))
        isolated_step("API address", lambda: self._keep_api_url(state, number))
        for job_id in jobs.assignments(state, self.chain.account):
            found = jobs.job(state, job_id)
            if found is not None:
                isolated_step(f"job {job_id}", partial(self._advance, nursery, found, number))
        desk = self.desk
        if desk is not None:
            isolated_step("sessions", lambda: desk.step(number))

    def _advance(self, nursery: trio.Nursery, job: jobs.Job, number: int) -> None:
        record = self.progress.get(job.id)
        if record is not None and record.resume and record.assigned_at != job.assigned_at:
            # jobs.progress gave its commit window a fresh start: the same run, not a new assignment
            record = record.but(assigned_at=job.assigned_at)
            self.progress.put(record)
        if record is None or record.assigned_at != job.assigned_at:
            if job.status != jobs.JobStatus.ASSIGNED:
                return
            try:
                if job_input(job, self.blobs) is None:
                    if not self._input_overdue(job, number):
                        self.chain.want_blob(job.input_hash, job.input_size)  # fetch it, start next block
                        return
                    raise InvalidInput("the referenced input never arrived from any peer")
            except InvalidInput as exc:
                log.warning("job %d: refused, %s", job.id, exc)
                record = JobProgress(job.id, job.assigned_at, state=FAILED, error=str(exc), invalid=True)
                self.progress.put(record)
            else:
                record = self._meeting(job, JobProgress(job.id, job.assigned_at))
                if record is not None and self._late(job, number):  # seen too late (the node was down)
                    self._decline(nursery, job, record.but(state=FAILED), number, "seen too late to run")
                elif record is not None:
                    self._start(nursery, job, record)
                return

        def due(sent: int) -> bool:
            return sent < 0 or number - sent >= RESEND_AFTER

        revealable = job.status == jobs.JobStatus.COMMITTED and number > job.committed_at
        assigned = job.status == jobs.JobStatus.ASSIGNED and not group_member.spread(job)
        if assigned and record.state == RUNNING and self._late(job, number):
            self._decline(nursery, job, record, number, "still running when its commit window ends")
        elif assigned and record.state == FAILED and not record.invalid and due(record.decline_sent):
            self._decline(nursery, job, record, number, record.error or "it failed here")
        elif record.state == WAITING and job.status == jobs.JobStatus.ASSIGNED:
            record, calls, again = group_member.next_attempt(
                self.chain.state(), job, record, self.config.rendezvous_host, number
            )
            self.progress.put(record)
            for name, args in calls:
                self._submit(record, name, args)
            if again:
                self._start(nursery, job, record)
        elif record.state == RUNNING and job.status == jobs.JobStatus.ASSIGNED:
            self._start(nursery, job, record)  # interrupted by a restart: run it again
        elif record.invalid and job.status == jobs.JobStatus.ASSIGNED and due(record.refuse_sent):
            self._submit(
                record.but(refuse_sent=number), "refuse", {"job": job.id, "reason": record.error[:200]}
            )
        elif record.state == DONE and record.first_round != job.options.get("first", 0):
            if due(record.delivered_sent):  # a replacement: paid from the round it joined at
                args = {"job": job.id, "first": record.first_round}
                self._submit(record.but(delivered_sent=number), "delivered", args)
        elif record.state == DONE and job.status == jobs.JobStatus.ASSIGNED and due(record.commit_sent):
            commitment = jobs.commitment(record.result_hash, record.salt)
            self._submit(record.but(commit_sent=number), "commit", {"job": job.id, "commitment": commitment})
        elif record.state == DONE and revealable and due(record.reveal_sent):
            result = (self.blobs.get(record.result_hash) or b"") if record.inline else b""
            self._submit(record.but(reveal_sent=number), "reveal", {
                "job": job.id, "result_hash": record.result_hash, "salt": record.salt, "result": result,
            })  # fmt: skip

    def _meeting(self, job: jobs.Job, record: JobProgress) -> JobProgress | None:
        """A member of a group job learns where the group meets (the lead
        picks and publishes it once every member has a provider); None while
        it waits."""
        if not group_member.spread(job):
            return record
        if group_member.is_lead(job):
            if not group_member.complete(self.chain.state(), job):
                return None  # a member still waits for a provider: start with all of them
            address = group_member.lead_address(self.config.rendezvous_host)
            self._submit(
                record.but(rendezvous=address), "rendezvous", {"job": job.id, "address": address.encode()}
            )
            return record.but(rendezvous=address)
        address = group_member.published(self.chain.state(), job)
        return record.but(rendezvous=address) if address else None

    def _late(self, job: jobs.Job, number: int) -> bool:
        """Too close to the end of the commit window to finish and commit."""
        state = self.chain.state()
        return number >= jobs.commit_deadline(state, job, chain_params(state)) - DECLINE_MARGIN

    def _decline(
        self, nursery: trio.Nursery, job: jobs.Job, record: JobProgress, number: int, why: str
    ) -> None:
        """Give the job back in time (another provider gets it, or its
        submitter a refund at once), stopping its run if it has one."""
        if job.id in self.running and job.id not in self.stopping:
            self.stopping.add(job.id)
            if job.id in self.executing:  # its result could not be committed: free the executor now
                log.warning("job %d: stopped, %s (commit due by block %d)", job.id, why,
                            jobs.commit_deadline(self.chain.state(), job, chain_params(self.chain.state())))  # fmt: skip
                self.executor.close()
                self._rewarm(nursery)
        log.warning("job %d: declined, %s", job.id, why)
        self._submit(
            record.but(declined=True, decline_sent=number), "decline", {"job": job.id, "reason": why[:200]}
        )

    def _rewarm(self, nursery: trio.Nursery) -> None:
        """The executor was stopped: load what it served again (the models
        stay advertised: the next job would load them anyway)."""
        state = self.chain.state()
        known = {h: found for h in self.warmup.ready if (found := registry.model(state, h)) is not None}
        if known:
            spawn(nursery, "warm-up", self._warm, {h: (found.name, found.kind) for h, found in known.items()})

    def _input_overdue(self, job: jobs.Job, number: int) -> bool:
        """Past this, the refusal must go now to land inside the commit window."""
        window = chain_params(self.chain.state()).job_commit_window
        return number >= job.assigned_at + window - max(2, window // 4)

    def _submit(self, record: JobProgress, name: str, args: dict[str, object]) -> None:
        self.progress.put(record)  # first the record, then the transaction
        try:
            self.chain.submit_call(Call("jobs", name, args))
            log.info("job %d: %s submitted", record.job, name)
        except ValueError as exc:
            log.warning("job %d: %s refused: %s", record.job, name, exc)

    # -- running a job -------------------------------------------------------
    def _start(self, nursery: trio.Nursery, job: jobs.Job, record: JobProgress) -> None:
        if job.id in self.running:
            return
        if record.attempts >= MAX_ATTEMPTS:  # cut short each time (the node died, the sandbox was lost)
            log.error("job %d: given up after %d interrupted runs", job.id, record.attempts)
            self.progress.put(record.but(state=FAILED, error=f"interrupted {record.attempts} times"))
            return
        record = record.but(attempts=record.attempts + 1)
        self.progress.put(record)  # counted before it runs, so a run that kills the node still counts
        self.running.add(job.id)
        spawn(nursery, f"job {job.id}", self._execute, job, record)

    async def _execute(self, job: jobs.Job, record: JobProgress) -> None:
        try:
            record = await self._run_job(job, record)
        except Exception as exc:  # whatever the job does, it fails alone and is never run again
            log.exception("job %d: failed: %s", job.id, exc)
            record = record.but(state=FAILED, error=f"{type(exc).__name__}: {exc}")
        finally:
            self.running.discard(job.id)
        if job.id in self.stopping:  # declined meanwhile: whatever came of the run is not committed
            self.stopping.discard(job.id)
            stored = self.progress.get(job.id)
            sent = stored.decline_sent if stored is not None else -1
            record = record.but(state=FAILED, declined=True, decline_sent=sent, error="declined")
        self.progress.put(record)
        self.wake.set()  # commit right away, not at the next block

    async def _run_job(self, job: jobs.Job, record: JobProgress) -> JobProgress:
        path = self.models.get(job.model)
        try:
            value = job_input(job, self.blobs)
        except InvalidInput as exc:
            return record.but(state=FAILED, error=str(exc), invalid=True)
        if path is None or value is None:
            why = "the model is not on this machine" if path is None else "the input blob is not here"
            log.warning("job %d cannot run: %s", job.id, why)
            return record.but(state=FAILED, error=why)
        resume = (self.blobs.get(record.resume) or b"") if record.resume else b""
        peers = group_keys.member_keys(self.chain.key, self.chain.state(), job) if record.rendezvous else b""
        spec = JobSpec(job.kind, value, dict(job.options), record.rendezvous, resume, peers)
        try:
            async with self.limiter:  # one job on the executor at a time (sessions and warm-ups too)
                if job.id in self.stopping:
                    return record
                record = self._started(job, record)
                self.executing.add(job.id)
                try:
                    done = await trio.to_thread.run_sync(
                        self.executor.run, spec, path, self.config.job_timeout
                    )
                finally:
                    self.executing.discard(job.id)
        except SandboxLost as exc:  # not the job's fault: run it again at the next block
            log.warning("job %d: the sandbox failed (%s); trying again", job.id, exc)
            return record.but(state=RUNNING, error=str(exc))
        except ExecutorError as exc:
            log.warning("job %d failed: %s", job.id, exc)
            return record.but(state=FAILED, error=str(exc))
        if self.on_executed is not None:
            try:
                self.on_executed(job.kind, done.seconds)
            except Exception:  # a metric is never worth the job
                log.debug("job %d: execution time not recorded", job.id, exc_info=True)
        self.blobs.put(done.encoded)
        broken = group_member.partial(job, done.encoded)
        if broken is not None:  # its group lost a member: it runs again from there when the group re-forms
            log.warning(
                "job %d: the group broke after %d round(s); waiting for it to re-form",
                job.id,
                broken["round"],
            )
            return record.but(state=WAITING, resume=done.hash, rounds_done=int(broken["round"]), attempts=0,
                              broken_at=self.chain.best_number())  # fmt: skip
        log.info("job %d: done in %.2f s, result %s", job.id, done.seconds, done.hash.hex()[:16])
        return record.but(state=DONE, result_hash=done.hash, salt=os.urandom(32),
                          inline=len(done.encoded) <= MAX_INLINE_RESULT,
                          first_round=group_member.first_round(job, done.encoded))  # fmt: skip

    def _started(self, job: jobs.Job, record: JobProgress) -> JobProgress:
        """Tell the chain the job runs now (`jobs.start`, once an assignment):
        its commit window then follows its work units."""
        log.info("job %d: running %s (%d work units)", job.id, job.kind, job.units)
        state = self.chain.state()
        if group_member.spread(job) or record.start_sent >= 0 or jobs.CommitBy.contains(state, job.id):
            return record
        started = record.but(start_sent=self.chain.best_number())
        self._submit(started, "start", {"job": job.id})
        return started

    # -- warm-up, registration and heartbeats ----------------------------------
    def _keep_warm(self, nursery: trio.Nursery, state: State) -> None:
        """Load the local models the chain knows that were not tried yet (at
        start, and when one is registered later)."""
        known = {h: found for h in self.models if (found := registry.model(state, h)) is not None}
        wanted = self.warmup.wanted({h: found.kind for h, found in known.items()})
        if not wanted:
            return
        names = ", ".join(known[h].name for h in wanted)
        log.info("loading %s before serving %s", names, "it" if len(wanted) == 1 else "them")
        models = {h: (known[h].name, kind) for h, kind in wanted.items()}
        spawn(nursery, "warm-up", self._warm, models)

    async def _warm(self, models: dict[bytes, tuple[str, jobs.JobKind]]) -> None:
        await self.warmup.warm(self.executor, self.models, models, self.limiter, self.config.job_timeout)
        self.wake.set()  # register what is ready now, not at the next block

    def _keep_registered(self, state: State, number: int) -> None:
        """Register for the local models the chain knows once they are loaded
        (again when that set or the price changes), and heartbeat once per era.
        Nothing is sent while a model is loading: a provider is online only
        for what it can run at once, and a job would wait behind the load."""
        me, era = self.chain.account, staking.CurrentEra.get(state)
        known = sorted(h for h in self.models if registry.model(state, h) is not None)
        serve = [h for h in known if h in self.warmup.ready]
        current = registry.provider(state, me)
        chilled = number < current.chilled_until
        why = "proven cheating: the chain lets this account serve again from block %d"
        if self._concern(Concern.CHILLED, chilled, why, current.chilled_until):
            return
        why = "none of this worker's models is registered on chain (see `vcoin model add`)"
        if self._concern(Concern.UNREGISTERED, not known, why):
            return
        unloadable = all(h in self.warmup.broken for h in known)
        why = "no model can be loaded (see the errors above): this worker serves nothing"
        if self._concern(Concern.UNLOADABLE, unloadable, why):
            return
        stale = set(current.models) != set(serve) or current.price != self.config.price
        if not (stale or current.last_seen_era < era):
            return
        if number - self._registration_sent < RESEND_AFTER:
            return  # the last one is still on its way
        params = chain_params(state)
        low = staking.ledger(state, me).bonded < params.min_provider_bond
        why = "bond at least %d base units to serve jobs (vcoin tx bond)"
        if self._concern(Concern.LOW_BOND, low, why, params.min_provider_bond) or not serve:
            return  # (or nothing loaded yet)
        if self.warmup.loading:  # a job assigned now would wait behind the load, its window running
            return
        call = Call("registry", "register_provider", {
            "models": serve, "memory_mb": self.config.memory_mb, "price": self.config.price,
        }) if stale else Call("registry", "heartbeat", {})  # fmt: skip
        self._registration_sent = number
        try:
            self.chain.submit_call(call)
            log.info("submitted registry.%s (%d models)", call.name, len(serve))
        except ValueError as exc:
            log.warning("registry.%s refused: %s", call.name, exc)

    def _keep_api_url(self, state: State, number: int) -> None:
        """Publish this node's API address (or clear it) once registered."""
        me = self.chain.account
        if not registry.provider(state, me).models or registry.api_url(state, me) == self.config.api_url:
            return
        if number - self._api_url_sent < RESEND_AFTER:
            return
        self._api_url_sent = number
        try:
            self.chain.submit_call(Call("registry", "set_api_url", {"url": self.config.api_url.encode()}))
            log.info("publishing the API address %r", self.config.api_url)
        except ValueError as exc:
            log.warning("registry.set_api_url refused: %s", exc)

    def _concern(self, concern: Concern, holds: bool, message: str, *args: object) -> bool:
        """Warn with `message` when `concern` starts to hold (not again while
        it does; again once it cleared and came back); whether it holds."""
        if not holds:
            self.warned.discard(concern)
        elif concern not in self.warned:
            self.warned.add(concern)
            log.warning(message, *args)
        return holds
