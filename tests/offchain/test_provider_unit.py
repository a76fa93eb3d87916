"""The provider worker in process, over the test chain and a stub executor
(the executor is not what is under test here; the real ones have their own
tests): a job interrupted mid-run is run again after a restart, a commit
that did not land is sent again after RESEND_AFTER blocks, registration and
heartbeats, and the worker's three warnings, each once until it clears."""

import logging
import threading
from pathlib import Path
from typing import Any

import pytest
import trio

from agent.executor import Check, Execution, ExecutorError, OnPiece, SandboxLost
from agent.job import JobSpec
from offchain.blobs import BlobStore
from offchain.progress import DONE, FAILED, RUNNING, JobProgress, ProgressStore
from offchain.provider import DECLINE_MARGIN, RESEND_AFTER, Concern, ProviderWorker, WorkerConfig
from offchain.warmup import is_warm_up
from runtime.codec import blake2b_256, encode
from runtime.constants import UNIT
from runtime.pallets import jobs, registry, staking
from runtime.types import Extrinsic
from tests.chain import EVE, FERDIE, TestChain, failed
from tests.offchain.view import ChainOfTest

MODEL = blake2b_256(b"a model only the stub executor knows")
PRICE = 1_000
RESULT = encode({"tokens": [[1, 2, 3]]})


class StubExecutor:
    """An `agent.executor.Executor` that answers every job with one fixed result."""

    name = "stub"

    def __init__(self) -> None:
        self.runs: list[JobSpec] = []
        self.warmed: list[Path] = []
        self.unloadable: set[Path] = set()
        self.closed = False

    def run(
        self, spec: JobSpec, model_path: Path, timeout: float, on_piece: OnPiece | None = None
    ) -> Execution:
        if is_warm_up(spec):
            if model_path in self.unloadable:
                raise ExecutorError("the job failed in the sandbox: OSError: not a model")
            self.warmed.append(model_path)
        else:
            self.runs.append(spec)
        return Execution(RESULT, blake2b_256(RESULT), 0.01)

    def verify(self, spec: JobSpec, model_path: Path, claimed: bytes, timeout: float) -> Check:
        raise AssertionError("a provider never verifies")

    def close(self) -> None:
        self.closed = True


class Harness:
    """A provider worker for EVE whose progress, blobs and executor outlive
    it: `restart` builds a new worker, as a node restart does."""

    def __init__(self, chain: TestChain, tmp: Path) -> None:
        self.chain, self.tmp = chain, tmp
        self.blobs = BlobStore(tmp / "blobs")
        self.progress = ProgressStore(tmp / "progress")
        self.view = ChainOfTest(chain, EVE)
        self.executor = StubExecutor()
        self.worker = self.restart()

    def restart(self) -> ProviderWorker:
        config = WorkerConfig(price=PRICE, memory_mb=4096, job_timeout=60)
        self.worker = ProviderWorker(
            self.view, self.executor, {MODEL: self.tmp / "model"}, self.blobs, self.progress, config
        )
        return self.worker

    def step(self) -> list[str]:
        """One block's step (waiting for the jobs it starts); the calls it submitted."""
        before = len(self.view.sent)

        async def once() -> None:
            async with trio.open_nursery() as nursery:
                self.worker.step(nursery)

        trio.run(once)
        return [_call_name(raw) for raw in self.view.sent[before:]]

    def lose_sent(self) -> None:
        """What was submitted never reaches a block (the pool dropped it, the node died)."""
        self.view.sent, self.view.pending = [], {}

    def block(self) -> list[str]:
        """The next block, with what the worker sent; the names of its events."""
        built = self.chain.produce(self.view.sent)
        assert not built.rejected, built.rejected
        self.view.sent, self.view.pending = [], {}
        return [e.name for e in built.events]


def _call_name(raw: bytes) -> str:
    call = Extrinsic.decode(raw).call
    return f"{call.pallet}.{call.name}"


def _chain(register_model: bool = True, bond: bool = True, provider: bool = True) -> TestChain:
    chain = TestChain(replicate=False)
    if register_model:
        chain.call(EVE, "registry", "register_model", hash=MODEL, model_name="stub", kind="inference",
                   params=2_000_000, memory_mb=64)  # fmt: skip
    if bond:
        chain.call(EVE, "staking", "bond", amount=1_000 * UNIT)
    if provider:
        assert register_model and bond
        chain.call(EVE, "registry", "register_provider", models=[MODEL], memory_mb=4096, price=PRICE)
    return chain


def _submit(chain: TestChain) -> jobs.Job:
    job_id = jobs.NextId.get(chain.state)
    args: dict[str, Any] = {"kind": "inference", "model": MODEL, "input": encode("the quick brown fox"), "input_hash": b"",
            "input_size": 0, "options": {"max_tokens": 4}, "max_fee": UNIT, "deadline": 30,
            "min_reputation": 0}  # fmt: skip
    assert failed(chain.call(FERDIE, "jobs", "submit", **args)) is None
    found = jobs.job(chain.state, job_id)
    assert found is not None and job_id in jobs.assignments(chain.state, EVE.public)
    return found


# -- jobs ----------------------------------------------------------------------------
def test_a_job_runs_is_committed_and_revealed(tmp_path: Path) -> None:
    chain = _chain()
    job = _submit(chain)
    harness = Harness(chain, tmp_path)
    assert harness.step() == ["jobs.start"]  # it runs (the run ends within the step), the commit waits
    record = harness.progress.get(job.id)
    assert record is not None and record.state == DONE and record.result_hash == blake2b_256(RESULT)
    assert len(harness.executor.runs) == 1 and harness.blobs.get(record.result_hash) == RESULT
    assert harness.step() == ["jobs.commit"]
    assert "Committed" in harness.block()
    assert harness.step() == []  # a reveal goes in a later block than the commit
    harness.block()
    assert harness.step() == ["jobs.reveal"]
    assert "Revealed" in harness.block()
    assert harness.step() == [] and len(harness.executor.runs) == 1  # nothing more to do or run


def test_a_job_interrupted_by_a_restart_runs_again(tmp_path: Path) -> None:
    chain = _chain()
    job = _submit(chain)
    harness = Harness(chain, tmp_path)
    # As a node that died mid-run leaves it: counted as started, never finished.
    harness.progress.put(JobProgress(job.id, job.assigned_at, state=RUNNING, attempts=1))
    harness.restart()
    harness.step()
    record = harness.progress.get(job.id)
    assert record is not None and record.state == DONE and record.attempts == 2
    assert len(harness.executor.runs) == 1
    assert harness.step() == ["jobs.commit"]
    assert "Committed" in harness.block()


def test_a_finished_job_is_not_run_again_after_a_restart(tmp_path: Path) -> None:
    chain = _chain()
    _submit(chain)
    harness = Harness(chain, tmp_path)
    harness.step()
    harness.restart()
    assert harness.step() == ["jobs.commit"]  # the result recorded before the restart is committed
    assert len(harness.executor.runs) == 1


def test_a_commit_that_did_not_land_is_sent_again_after_resend_after_blocks(tmp_path: Path) -> None:
    chain = _chain()
    job = _submit(chain)
    harness = Harness(chain, tmp_path)
    harness.step()
    assert harness.step() == ["jobs.commit"]
    sent_at = chain.head.number
    harness.lose_sent()
    for _ in range(RESEND_AFTER - 1):  # still on its way, as far as the worker knows
        harness.block()
        assert harness.step() == [], chain.head.number - sent_at
    harness.block()
    assert chain.head.number - sent_at == RESEND_AFTER
    assert harness.step() == ["jobs.commit"]  # given up on: sent again
    record = harness.progress.get(job.id)
    assert record is not None and record.commit_sent == chain.head.number
    assert "Committed" in harness.block()
    harness.block()
    assert harness.step() == ["jobs.reveal"]
    assert len(harness.executor.runs) == 1


def test_a_commit_sent_again_after_a_restart_waits_the_same_blocks(tmp_path: Path) -> None:
    chain = _chain()
    _submit(chain)
    harness = Harness(chain, tmp_path)
    harness.step()
    assert harness.step() == ["jobs.commit"]
    harness.lose_sent()
    harness.block()
    harness.restart()  # the record says when it was sent: a restart does not send it at once
    assert harness.step() == []


# -- windows: start, and decline when it cannot make it ----------------------------
class SlowExecutor(StubExecutor):
    """Runs each job until the executor is closed (a job slower than its window)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.stopped = threading.Event(), threading.Event()

    def run(
        self, spec: JobSpec, model_path: Path, timeout: float, on_piece: OnPiece | None = None
    ) -> Execution:
        if is_warm_up(spec):
            return super().run(spec, model_path, timeout, on_piece)
        self.runs.append(spec)
        self.entered.set()
        if not self.stopped.wait(30):
            raise AssertionError("never stopped")
        raise SandboxLost("the sandbox exited (status -9)")

    def close(self) -> None:
        self.closed = True
        self.stopped.set()


def test_a_job_running_past_its_window_is_stopped_and_declined(tmp_path: Path) -> None:
    chain = _chain()
    job = _submit(chain)
    harness = Harness(chain, tmp_path)
    slow = harness.executor = SlowExecutor()
    harness.restart()
    sent: list[list[str]] = []

    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            harness.worker.step(nursery)
            await trio.to_thread.run_sync(slow.entered.wait, 10)
            sent.append([_call_name(raw) for raw in harness.view.sent])
            assert "Started" in harness.block()
            due = jobs.commit_deadline(chain.state, jobs.job(chain.state, job.id), chain.params)  # type: ignore[arg-type]
            while chain.head.number < due - DECLINE_MARGIN - 1:
                harness.block()
                harness.worker.step(nursery)
                assert harness.view.sent == [] and not slow.closed  # still inside its window: it runs on
            harness.block()
            harness.worker.step(nursery)
            sent.append([_call_name(raw) for raw in harness.view.sent])

    trio.run(scenario)
    assert sent == [["jobs.start"], ["jobs.decline"]]
    assert slow.closed  # the run was stopped, not left to hold the executor
    assert slow.warmed[-1] == tmp_path / "model"  # ... and the model loaded again for the next job
    events = harness.block()
    assert "Declined" in events and "Refunded" in events  # nobody else serves it: refunded at once
    record = harness.progress.get(job.id)
    assert record is not None and record.state == FAILED and record.declined
    assert harness.step() == []  # nothing more: no commit, no second decline


def test_a_job_that_fails_here_is_declined_at_once_not_left_to_vanish(tmp_path: Path) -> None:
    chain = _chain()
    job = _submit(chain)
    harness = Harness(chain, tmp_path)
    harness.worker.models = {}  # the model is gone from this machine
    assert harness.step() == []  # it fails before it runs
    assert harness.step() == ["jobs.decline"]
    assert "Declined" in harness.block()
    assert jobs.job(chain.state, job.id).status == jobs.JobStatus.REFUNDED  # type: ignore[union-attr]


def test_a_job_seen_too_late_after_a_restart_is_declined_without_running(tmp_path: Path) -> None:
    chain = _chain()
    job = _submit(chain)
    chain.advance_to(job.assigned_at + chain.params.job_commit_window - DECLINE_MARGIN)
    harness = Harness(chain, tmp_path)
    assert harness.step() == ["jobs.decline"]
    assert harness.executor.runs == []
    assert "Declined" in harness.block()


# -- registration and heartbeats ---------------------------------------------------
def test_the_worker_registers_its_models_and_heartbeats_once_per_era(tmp_path: Path) -> None:
    chain = _chain(provider=False)
    harness = Harness(chain, tmp_path)
    assert harness.step() == []  # loading the model first: not online before it can run a job
    assert harness.executor.warmed == [tmp_path / "model"] and harness.executor.runs == []
    assert harness.step() == ["registry.register_provider"]
    assert harness.step() == []  # on its way: not sent twice
    harness.block()
    current = registry.provider(chain.state, EVE.public)
    assert current.models == (MODEL,) or list(current.models) == [MODEL]
    assert current.price == PRICE and current.memory_mb == 4096
    assert harness.step() == []  # registered, seen this era
    era = staking.CurrentEra.get(chain.state)
    while staking.CurrentEra.get(chain.state) == era:
        harness.block()
    assert registry.provider(chain.state, EVE.public).last_seen_era < staking.CurrentEra.get(chain.state)
    assert harness.step() == ["registry.heartbeat"]
    harness.block()
    assert registry.provider(chain.state, EVE.public).last_seen_era == staking.CurrentEra.get(chain.state)
    assert harness.step() == []


def test_a_registration_that_did_not_land_is_sent_again_after_resend_after_blocks(tmp_path: Path) -> None:
    chain = _chain(provider=False)
    harness = Harness(chain, tmp_path)
    harness.step()  # loading
    assert harness.step() == ["registry.register_provider"]
    harness.lose_sent()
    for _ in range(RESEND_AFTER - 1):
        harness.block()
        assert harness.step() == []
    harness.block()
    assert harness.step() == ["registry.register_provider"]


def test_a_new_price_registers_again(tmp_path: Path) -> None:
    chain = _chain()
    harness = Harness(chain, tmp_path)
    assert harness.step() == []
    harness.worker.config = WorkerConfig(price=PRICE * 2, memory_mb=4096)
    assert harness.step() == ["registry.register_provider"]
    harness.block()
    assert registry.provider(chain.state, EVE.public).price == PRICE * 2


def test_a_model_that_cannot_be_loaded_is_never_advertised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vcoin.worker")
    chain = _chain(provider=False)
    other = blake2b_256(b"a second model")
    chain.call(EVE, "registry", "register_model", hash=other, model_name="broken", kind="embed",
               params=1_000_000, memory_mb=64)  # fmt: skip
    harness = Harness(chain, tmp_path)
    harness.executor.unloadable = {tmp_path / "broken"}
    harness.worker.models = {MODEL: tmp_path / "model", other: tmp_path / "broken"}
    harness.step()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "broken cannot be loaded" in errors[0] and "not a model" in errors[0]
    assert any("model stub ready (loaded in" in r.getMessage() for r in caplog.records)
    assert harness.step() == ["registry.register_provider"]
    harness.block()
    assert list(registry.provider(chain.state, EVE.public).models) == [MODEL]  # only what loaded
    harness.step()
    assert len(harness.executor.warmed) == 1  # a model is tried once per start, not every block


def test_nothing_is_sent_while_a_model_loads(tmp_path: Path) -> None:
    chain = _chain(provider=False)
    harness = Harness(chain, tmp_path)
    harness.worker.warmup.ready.add(MODEL)
    harness.worker.warmup.loading.add(blake2b_256(b"a larger model, loading"))
    assert harness.step() == []  # a job assigned now would wait for the executor behind the load
    harness.worker.warmup.loading.clear()
    assert harness.step() == ["registry.register_provider"]


def test_nothing_is_advertised_when_no_model_loads(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    chain = _chain(provider=False)
    harness = Harness(chain, tmp_path)
    harness.executor.unloadable = {tmp_path / "model"}
    harness.step()
    assert harness.step() == [] and harness.step() == []
    assert harness.worker.warned == {Concern.UNLOADABLE}


def test_a_restarted_worker_loads_its_models_before_its_heartbeat(tmp_path: Path) -> None:
    chain = _chain()
    harness = Harness(chain, tmp_path)
    era = staking.CurrentEra.get(chain.state)
    while staking.CurrentEra.get(chain.state) == era:
        harness.block()
    harness.restart()
    harness.executor.warmed = []
    assert harness.step() == []  # loading again: no heartbeat yet
    assert harness.executor.warmed == [tmp_path / "model"]
    assert harness.step() == ["registry.heartbeat"]


# -- warnings ------------------------------------------------------------------------
def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    found = [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "vcoin.worker"
    ]
    caplog.clear()
    return found


def test_each_warning_is_given_once_until_its_condition_clears_none_silences_another(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vcoin.worker")
    chain = _chain(register_model=False, bond=False, provider=False)
    harness = Harness(chain, tmp_path)
    # 1. none of the worker's models is on chain: said once, however many blocks
    harness.step()
    assert [m for m in _warnings(caplog) if "registered on chain" in m] != []
    harness.step()
    assert _warnings(caplog) == []
    assert harness.worker.warned == {Concern.UNREGISTERED}
    # 2. the model is registered, but the bond is too low: said although (1) was said
    chain.call(EVE, "registry", "register_model", hash=MODEL, model_name="stub", kind="inference",
               params=2_000_000, memory_mb=64)  # fmt: skip
    assert harness.step() == []
    said = _warnings(caplog)
    assert len(said) == 1 and "bond at least" in said[0], said
    assert harness.worker.warned == {Concern.LOW_BOND}  # (1) cleared
    harness.block()
    harness.block()
    harness.block()
    harness.block()
    harness.block()
    assert harness.step() == [] and _warnings(caplog) == []  # still too low: not said again
    # 3. bonded: it registers, and no warning holds any more
    chain.call(EVE, "staking", "bond", amount=1_000 * UNIT)
    assert harness.step() == ["registry.register_provider"] and _warnings(caplog) == []
    harness.block()
    assert harness.worker.warned == set()
    # 4. proven cheating chills it: said once, and again only after it cleared and came back
    until = chain.head.number + RESEND_AFTER + 1  # past the last registration's wait
    registry.chill(chain.ctx(), EVE.public, until)
    harness.block()
    harness.step()
    said = _warnings(caplog)
    assert len(said) == 1 and "proven cheating" in said[0]
    harness.block()
    harness.step()
    assert _warnings(caplog) == []
    while chain.head.number < until:
        harness.block()
    assert harness.step() == ["registry.register_provider"]  # serving again
    assert harness.worker.warned == set()
    registry.chill(chain.ctx(), EVE.public, chain.head.number + 10)
    harness.lose_sent()
    harness.block()
    harness.step()
    assert ["proven cheating" in m for m in _warnings(caplog)] == [True]
    # 5. (1) again after it had cleared: said again
    harness.worker.models = {blake2b_256(b"another model"): tmp_path / "other"}
    while chain.head.number < registry.provider(chain.state, EVE.public).chilled_until:
        harness.block()
    harness.step()
    assert ["registered on chain" in m for m in _warnings(caplog)] == [True]
