"""The provider worker over the real runtime and the real sandbox: a job
whose referenced input is unusable is refused on chain (never run, never
crashing the node, never run again after a restart), and a job that keeps
killing its node is given up instead of crash-looping."""

from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio

from agent.executor import LocalExecutor
from agent.models import model_hash
from agent.tiny_models import tiny_causal_lm
from genesis.spec import local_spec
from offchain.blobs import BlobStore
from offchain.progress import FAILED, RUNNING, JobProgress, ProgressStore
from offchain.provider import MAX_ATTEMPTS, ProviderWorker, WorkerConfig
from runtime.codec import blake2b_256, encode
from runtime.constants import UNIT
from runtime.pallets import jobs, registry, reputation
from tests.chain import EVE, FERDIE, TestChain, failed
from tests.offchain.view import ChainOfTest

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("lm"))


def market(lm: Path) -> TestChain:
    chain = TestChain(local_spec(), replicate=False, job_commit_window=4)
    digest = model_hash(lm)
    chain.call(EVE, "registry", "register_model", hash=digest, model_name="tiny", kind="inference",
               params=2_000_000, memory_mb=64)  # fmt: skip
    chain.call(EVE, "staking", "bond", amount=1_000 * UNIT)
    chain.call(EVE, "registry", "register_provider", models=[digest], memory_mb=4096, price=1_000)
    return chain


def submit_referenced(chain: TestChain, lm: Path, raw: bytes, size: int | None = None) -> int:
    job_id = jobs.NextId.get(chain.state)
    args: dict[str, Any] = {"kind": "inference", "model": model_hash(lm), "input": b"",
                            "input_hash": blake2b_256(raw), "input_size": len(raw) if size is None else size,
                            "options": {"max_tokens": 4}, "max_fee": UNIT, "deadline": 30, "min_reputation": 0}  # fmt: skip
    assert failed(chain.call(FERDIE, "jobs", "submit", **args)) is None
    found = jobs.job(chain.state, job_id)
    assert found is not None and found.status == jobs.JobStatus.ASSIGNED
    return job_id


class Worker:
    """A provider worker whose progress and blobs outlive it (a restart makes a new one)."""

    def __init__(self, chain: TestChain, lm: Path, tmp: Path) -> None:
        self.chain, self.lm, self.tmp = chain, lm, tmp
        self.blobs = BlobStore(tmp / "blobs")
        self.progress = ProgressStore(tmp / "progress")
        self.view = ChainOfTest(chain, EVE)

    def step(self) -> None:
        """One block's step, waiting for the jobs it starts."""
        worker = ProviderWorker(self.view, LocalExecutor(device="cpu"), {model_hash(self.lm): self.lm}, self.blobs,
                                self.progress, WorkerConfig(price=1_000, memory_mb=4096, job_timeout=120))  # fmt: skip

        async def once() -> None:
            async with trio.open_nursery() as nursery:
                worker.step(nursery)
            worker.executor.close()

        trio.run(once)


UNUSABLE = [
    pytest.param(msgpack.packb({1: 2}), id="a map with integer keys"),
    pytest.param(encode(["a", "list", "of", "texts"]), id="a list for a prompt"),
    pytest.param(encode(""), id="an empty prompt"),
    pytest.param(b"\xc1garbage", id="undecodable bytes"),
    pytest.param(encode("x" * 40) + b"\x00", id="trailing bytes"),
]


@pytest.mark.parametrize("raw", UNUSABLE)
def test_an_unusable_referenced_input_is_refused_not_run(lm: Path, tmp_path: Path, raw: bytes) -> None:
    chain = market(lm)
    job_id = submit_referenced(chain, lm, raw)
    worker = Worker(chain, lm, tmp_path)
    worker.blobs.put(raw)
    before = reputation.score(chain.state, EVE.public), chain.account(FERDIE.public)
    worker.step()  # used to raise out of the worker's nursery, stopping the node
    record = worker.progress.get(job_id)
    assert record is not None and record.invalid and record.state == FAILED and record.attempts == 0
    events = chain.produce(worker.view.sent).events
    refused = [e for e in events if e.name == "Refused"]
    assert len(refused) == 1 and refused[0].data["job"] == job_id, [e.name for e in events]
    found = jobs.job(chain.state, job_id)
    # nobody else serves the model: refunded at once (less the burn), not left waiting for others
    assert found is not None and found.status == jobs.JobStatus.REFUNDED
    assert EVE.public in found.tried
    after = chain.account(FERDIE.public)
    burned = refused[0].data["burned"]
    assert 0 < burned < UNIT and after.free == before[1].free + UNIT - burned and after.reserved == 0
    assert reputation.score(chain.state, EVE.public) == before[0]
    assert registry.provider(chain.state, EVE.public).jobs_failed == 0
    worker.view.sent = []
    worker.step()  # after a restart: nothing runs, nothing more is sent
    assert worker.view.sent == []


def test_a_referenced_input_larger_than_paid_for_is_refused(lm: Path, tmp_path: Path) -> None:
    raw = encode("word " * 500)
    chain = market(lm)
    job_id = submit_referenced(chain, lm, raw, size=1)  # priced as one byte
    worker = Worker(chain, lm, tmp_path)
    worker.blobs.put(raw)
    worker.step()
    record = worker.progress.get(job_id)
    assert record is not None and record.invalid and "paid for" in record.error


def test_a_valid_referenced_input_runs_and_is_committed(lm: Path, tmp_path: Path) -> None:
    raw = encode("the quick brown fox")
    chain = market(lm)
    job_id = submit_referenced(chain, lm, raw)
    worker = Worker(chain, lm, tmp_path)
    worker.blobs.put(raw)
    worker.step()
    record = worker.progress.get(job_id)
    assert record is not None and record.state == "done" and record.attempts == 1 and not record.invalid
    worker.step()
    events = chain.produce(worker.view.sent).events
    assert any(e.name == "Committed" for e in events)


def test_a_job_that_keeps_killing_its_node_is_given_up(lm: Path, tmp_path: Path) -> None:
    raw = encode("the quick brown fox")
    chain = market(lm)
    job_id = submit_referenced(chain, lm, raw)
    found = jobs.job(chain.state, job_id)
    assert found is not None
    worker = Worker(chain, lm, tmp_path)
    worker.blobs.put(raw)
    # As the node leaves it when it dies mid-run, MAX_ATTEMPTS times in a row.
    worker.progress.put(JobProgress(job_id, found.assigned_at, state=RUNNING, attempts=MAX_ATTEMPTS))
    worker.step()
    record = worker.progress.get(job_id)
    assert record is not None and record.state == FAILED and "interrupted" in record.error
    assert worker.view.sent == []


def test_an_input_that_never_arrives_is_refused_inside_the_commit_window(lm: Path, tmp_path: Path) -> None:
    raw = encode("nobody serves these bytes")
    chain = market(lm)
    job_id = submit_referenced(chain, lm, raw)
    worker = Worker(chain, lm, tmp_path)
    worker.step()
    assert worker.view.wanted == [blake2b_256(raw)] and worker.view.sent == []  # asked peers, no more
    found = jobs.job(chain.state, job_id)
    assert found is not None
    chain.advance_to(found.assigned_at + 2)  # the window is 4: two blocks left to land a refusal
    worker.step()
    events = chain.produce(worker.view.sent).events
    assert any(e.name == "Refused" and e.data["job"] == job_id for e in events), [e.name for e in events]
    assert reputation.score(chain.state, EVE.public) == reputation.score(chain.state, b"\x00" * 32)
