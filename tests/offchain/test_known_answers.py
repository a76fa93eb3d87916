"""Known-answer tests by a validator's worker, over the real runtime (a test
chain) and the real sandboxed executor on a tiny model: the worker copies an
ordinary job's shape, seals the answer before the job exists, pays from an
ordinary-looking account, and opens the seal after the provider's reveal."""

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from agent.executor import LocalExecutor
from agent.job import JobSpec, Result
from agent.kinds import inference
from agent.models import model_hash
from agent.tiny_models import tiny_causal_lm
from genesis.spec import local_spec
from offchain.blobs import BlobStore
from offchain.known_answer_inputs import TextPool
from offchain.known_answers import KnownAnswerTester
from offchain.records import RecordDir
from runtime.codec import blake2b_256, decode, encode
from runtime.constants import UNIT
from runtime.pallets import jobs, known_answers, verification
from runtime.types import Call, Event
from tests.chain import ALICE, EVE, FERDIE, TestChain
from tests.offchain.view import ChainOfTest

pytest.importorskip("transformers")
PROMPT = "please write a short note about the quick brown fox"
OPTIONS = {"max_tokens": 6}


class AlwaysTest(random.Random):
    """Every ordinary job is taken as a template (the real rate is 5%)."""

    def random(self) -> float:
        return 0.0

    def getrandbits(self, k: int) -> int:  # keeps choice() and randint() random
        return super().getrandbits(k)


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("lm"))


class Market:
    """EVE serves the tiny model; FERDIE submits one ordinary job; ALICE's
    worker runs its known-answer tests."""

    def __init__(self, lm: Path, tmp: Path, lazy: bool, referenced: bool = False) -> None:
        self.chain = TestChain(local_spec(), replicate=False, job_commit_window=3, job_reveal_window=3,
                               job_challenge_window=8, verify_window=6, sample_rate_ppm=10_000)  # fmt: skip
        self.lm, self.tmp, self.lazy, self.model = lm, tmp, lazy, model_hash(lm)
        self.referenced, self.blobs = referenced, BlobStore(tmp / "blobs")  # the node's blob store
        chain = self.chain
        chain.call(EVE, "registry", "register_model", hash=self.model, model_name="tiny", kind="inference",
                   params=2_000_000, memory_mb=64)  # fmt: skip
        chain.call(EVE, "staking", "bond", amount=1_000 * UNIT)
        chain.call(EVE, "registry", "register_provider", models=[self.model], memory_mb=4096, price=1_000)
        self.view = ChainOfTest(chain, ALICE)
        self.executor = LocalExecutor(device="cpu")
        self.tester = self.new_tester()
        self.events: list[Event] = []
        self.results: dict[int, Result] = {}

    def new_tester(self) -> KnownAnswerTester:
        """The worker as it starts (or restarts) over its records on disk."""
        return KnownAnswerTester(
            self.view, self.executor, {self.model: self.lm}, self.blobs,
            RecordDir(self.tmp / "known-answers"), ALICE.seed, trio.CapacityLimiter(1), rng=AlwaysTest(7),
        )  # fmt: skip

    def serve(self) -> None:
        """EVE's provider worker, inline: run, commit, reveal (lazily if asked)."""
        state, number = self.chain.state, self.chain.head.number
        for job_id in jobs.assignments(state, EVE.public):
            job = jobs.job(state, job_id)
            assert job is not None
            if job.status == jobs.JobStatus.ASSIGNED:
                raw = job.input or self.blobs.get(job.input_hash)  # referenced: from the tester's node
                assert raw is not None
                payload = inference.run(JobSpec("inference", decode(raw), dict(job.options)), self.lm, "cpu")
                if self.lazy:
                    payload = {**payload, "tokens": [(t + 5) % 100 for t in payload["tokens"]]}
                result = self.results[job_id] = Result.of(payload)
                self.view.submit_call_as(EVE, jobs_call("commit", job=job_id,
                                                        commitment=jobs.commitment(result.hash, b"s")))  # fmt: skip
            elif job.status == jobs.JobStatus.COMMITTED and number > job.committed_at:
                result = self.results[job_id]
                self.view.submit_call_as(EVE, jobs_call("reveal", job=job_id, result_hash=result.hash, salt=b"s",
                                                        result=result.encoded))  # fmt: skip

    def submit_template(self) -> None:
        raw = encode(PROMPT)
        where = {"input": b"", "input_hash": blake2b_256(raw), "input_size": len(raw)} if self.referenced else {
            "input": raw, "input_hash": b"", "input_size": 0}  # fmt: skip
        self.view.submit_call_as(FERDIE, jobs_call("submit", kind="inference", model=self.model, options=OPTIONS,
                                                   max_fee=2 * UNIT, deadline=40, min_reputation=0, **where))  # fmt: skip

    def run_until(self, done: Callable[[], bool], blocks: int = 60, restart_at: str = "") -> None:
        """Blocks until `done`; with `restart_at`, the worker restarts once when
        a test reaches that phase."""

        async def drive() -> None:
            restart = restart_at
            async with trio.open_nursery() as nursery:
                for block in range(blocks):
                    if restart and any(t.phase == restart for t in self.tester.tests.values()):
                        self.tester, restart = self.new_tester(), ""
                    self.tester.step(nursery)
                    if block == 0:  # after the worker started: it learns from new jobs only
                        self.submit_template()
                    for digest in self.view.wanted:  # the node's blob exchange, at once
                        if digest == blake2b_256(encode(PROMPT)):
                            self.blobs.put(encode(PROMPT))
                    while self.tester.preparing or self.tester.judging:
                        await trio.sleep(0.02)
                    self.serve()
                    self.view.flush()
                    self.events += self.chain.events
                    if done():
                        return

        try:
            trio.run(drive)
        finally:
            self.executor.close()

    def opened(self) -> list[Event]:
        return [e for e in self.events if e.pallet == "known_answers" and e.name == "Opened"]


def jobs_call(name: str, **args: Any) -> Call:
    return Call("jobs", name, args)


def test_an_honest_provider_passes_a_known_answer_job_that_looks_ordinary(lm: Path, tmp_path: Path) -> None:
    market = Market(lm, tmp_path, lazy=False)
    market.run_until(lambda: bool(market.opened()) and not market.tester.tests, restart_at="sealed")
    assert [e.data["passed"] for e in market.opened()] == [True]
    template, test = (
        jobs.job(market.chain.state, 0),
        jobs.job(market.chain.state, market.opened()[0].data["job"]),
    )
    assert template is not None and test is not None
    assert test.submitter in {key.public for key in market.tester.accounts} and test.submitter != ALICE.public
    assert (test.kind, test.model, test.options, test.max_fee) == (template.kind, template.model, template.options,
                                                                   template.max_fee)  # fmt: skip
    assert test.deadline - test.created == template.deadline - template.created
    assert test.input != template.input
    assert len(decode(test.input).split()) == len(PROMPT.split())
    assert not list(RecordDir(tmp_path / "known-answers").names())  # nothing left to do after a restart


def test_a_job_with_a_referenced_input_is_copied_as_one(lm: Path, tmp_path: Path) -> None:
    market = Market(lm, tmp_path, lazy=False, referenced=True)
    market.run_until(lambda: bool(market.opened()))
    assert [e.data["passed"] for e in market.opened()] == [True]
    assert blake2b_256(encode(PROMPT)) in market.view.wanted  # the template's input was fetched first
    test = jobs.job(market.chain.state, market.opened()[0].data["job"])
    assert test is not None and not test.input and test.input_size > 0
    assert test.input_hash != blake2b_256(encode(PROMPT)) and market.blobs.has(test.input_hash)


def test_a_lazy_provider_fails_a_known_answer_job_and_goes_to_a_dispute(lm: Path, tmp_path: Path) -> None:
    market = Market(lm, tmp_path, lazy=True)
    market.run_until(lambda: bool(market.opened()))
    assert [e.data["passed"] for e in market.opened()] == [False]
    check = verification.check(market.chain.state, market.opened()[0].data["job"])
    assert (
        check is not None
        and check.offence == "failed_known_answer"
        and check.status == verification.CheckStatus.DISPUTED
    )
    assert not any(known_answers.Seals.get(market.chain.state, t.seal) for t in market.tester.tests.values())


def test_fresh_inputs_keep_the_template_shape_and_differ_from_it() -> None:
    pool, rng = TextPool(), random.Random(3)
    template = ["one two three four five", "six seven", "eight nine ten eleven twelve thirteen fourteen"]
    pool.learn("embed", template)
    pool.learn("embed", ["alpha beta gamma delta epsilon zeta"])
    for _ in range(50):
        fresh = pool.make_input("embed", template, rng)
        assert [len(t.split()) for t in fresh] == [len(t.split()) for t in template]
        assert all(t.strip() for t in fresh)
    prompts = {pool.make_input("inference", "a prompt of six words here", rng) for _ in range(50)}
    assert len(prompts) > 40 and all(len(p.split()) == 6 for p in prompts)


def test_a_validator_that_alone_serves_the_model_does_not_test_itself(lm: Path, tmp_path: Path) -> None:
    market = Market(lm, tmp_path, lazy=False)
    market.chain.call(EVE, "registry", "deregister_provider")
    market.chain.call(
        ALICE, "registry", "register_provider", models=[market.model], memory_mb=4096, price=1_000
    )
    market.run_until(lambda: False, blocks=6)
    assert jobs.NextId.get(market.chain.state) == 1  # the ordinary job only
    assert not market.tester.tests and not list(RecordDir(tmp_path / "known-answers").names())
