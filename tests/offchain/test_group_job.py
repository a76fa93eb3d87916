"""A LoRA job spread over two providers, end to end over the real runtime:
two provider workers with their own sandboxed runners take the two member
jobs, the lead publishes its rendezvous, the other member joins it, both
train the same adapter, commit, reveal, and are paid their share."""

from pathlib import Path
from typing import Any

import pytest
import trio

from agent.canonical import decode
from agent.canonical import encode as encode_result
from agent.executor import LocalExecutor
from agent.models import model_hash
from agent.tiny_models import tiny_causal_lm
from genesis.spec import local_spec
from offchain.blobs import BlobStore
from offchain.group_keys import member_keys
from offchain.progress import ProgressStore
from offchain.provider import ProviderWorker, WorkerConfig
from offchain.verifier import VerifierWorker
from runtime.codec import blake2b_256, encode
from runtime.constants import MAX_INLINE_RESULT, UNIT
from runtime.crypto import Keypair
from runtime.pallets import job_groups, jobs, staking, verification
from tests.chain import ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE, TestChain, failed
from tests.offchain.view import ChainOfTest

pytest.importorskip("transformers")
TEXTS = [f"a fox runs {i} miles to the river and back" for i in range(8)]
PROVIDERS = {EVE.public: EVE, FERDIE.public: FERDIE}
VALIDATORS = (ALICE, BOB, CHARLIE, DAVE)
OPTIONS = {"providers": 2, "sync_every": 3, "rounds": 2, "lr_ppm": 20_000, "seed": 1, "rank": 4, "alpha": 8}


class Member:
    def __init__(self, chain: TestChain, key: Keypair, lm: Path, tmp: Path) -> None:
        self.view = ChainOfTest(chain, key)
        self.executor = LocalExecutor(device="cpu", log=tmp / "runner.log")
        self.progress, self.blobs = ProgressStore(tmp / "progress"), BlobStore(tmp / "blobs")
        self.worker = ProviderWorker(self.view, self.executor, {model_hash(lm): lm}, self.blobs, self.progress,
                                     WorkerConfig(price=1_000, memory_mb=4096, job_timeout=300))  # fmt: skip


def _market(lm: Path, sample_rate_ppm: int = 100_000) -> TestChain:
    chain = TestChain(local_spec(), replicate=False, job_commit_window=30, job_reveal_window=10,
                      job_challenge_window=4, verify_window=6, sample_rate_ppm=sample_rate_ppm)  # fmt: skip
    digest = model_hash(lm)
    chain.call(EVE, "registry", "register_model", hash=digest, model_name="tiny", kind="inference",
               params=2_000_000, memory_mb=64)  # fmt: skip
    for key in (EVE, FERDIE):
        chain.call(key, "staking", "bond", amount=1_000 * UNIT)
        chain.call(key, "registry", "register_provider", models=[digest], memory_mb=4096, price=1_000)
    return chain


def _train(chain: TestChain, lm: Path, tmp: Path) -> tuple[Member, Member]:
    """Submit a 2-provider job and let both workers train it; the members by rank."""
    args: dict[str, Any] = {"kind": "lora", "model": model_hash(lm), "input": encode(TEXTS), "input_hash": b"",
                            "input_size": 0, "options": OPTIONS, "max_fee": 10 * UNIT, "deadline": 80,
                            "min_reputation": 0}  # fmt: skip
    assert failed(chain.call(CHARLIE, "jobs", "submit", **args)) is None
    assigned = [_job(chain, i) for i in (0, 1)]
    assert all(m.status == jobs.JobStatus.ASSIGNED for m in assigned)
    lead, other = (Member(chain, PROVIDERS[m.provider], lm, tmp / str(i)) for i, m in enumerate(assigned))

    async def train() -> None:
        async with trio.open_nursery() as nursery:
            other.worker.step(nursery)  # no rendezvous yet: it waits
            assert other.progress.get(1) is None
            lead.worker.step(nursery)  # publishes its address and starts listening there
            lead.view.flush()
            assert job_groups.Rendezvous.get(chain.state, 0)
            other.worker.step(nursery)  # joins; the nursery ends when both runs end

    trio.run(train)
    return lead, other


def _job(chain: TestChain, job_id: int) -> jobs.Job:
    found = jobs.job(chain.state, job_id)
    assert found is not None
    return found


def _result(member: Member, job_id: int) -> dict[str, Any]:
    record = member.progress.get(job_id)
    assert record is not None and record.state == "done", record
    raw = member.blobs.get(record.result_hash)
    assert raw is not None
    return dict(decode(raw))


def _run_blocks(chain: TestChain, members: list[Member], verifiers: list[Any], until: Any) -> None:
    for _ in range(60):  # commit, reveal, checks and the challenge window, block by block
        for worker, view in [(m.worker, m.view) for m in members] + verifiers:
            trio.run(_step, worker)
            view.flush()
        if until():
            return
    raise AssertionError("the group job never finished")


def test_members_derive_one_key_per_pair_from_the_providers_the_chain_assigned(tmp_path: Path) -> None:
    lm = tiny_causal_lm(tmp_path / "lm")
    chain = _market(lm)
    args: dict[str, Any] = {"kind": "lora", "model": model_hash(lm), "input": encode(TEXTS), "input_hash": b"",
                            "input_size": 0, "options": OPTIONS, "max_fee": 10 * UNIT, "deadline": 80,
                            "min_reputation": 0}  # fmt: skip
    assert failed(chain.call(CHARLIE, "jobs", "submit", **args)) is None
    lead, other = _job(chain, 0), _job(chain, 1)
    lead_keys = decode(member_keys(PROVIDERS[lead.provider], chain.state, lead))
    other_keys = decode(member_keys(PROVIDERS[other.provider], chain.state, other))
    assert lead_keys[0] == other_keys[1] == b"" and lead_keys[1] == other_keys[0] and len(lead_keys[1]) == 32
    # a stranger's node, named as the lead's provider, derives another key
    assert decode(member_keys(ALICE, chain.state, lead))[1] != lead_keys[1]


@pytest.mark.slow
def test_two_workers_train_a_group_job_and_are_each_paid_their_share(tmp_path: Path) -> None:
    lm = tiny_causal_lm(tmp_path / "lm")
    chain = _market(lm)
    lead, other = _train(chain, lm, tmp_path)
    try:
        assert _result(lead, 0)["adapter"] == _result(other, 1)["adapter"]  # one adapter, trained by both
        before = {key: chain.account(key).free for key in PROVIDERS}
        _run_blocks(
            chain,
            [lead, other],
            [],
            lambda: all(_job(chain, i).status == jobs.JobStatus.SETTLED for i in (0, 1)),
        )
        for member_job in (_job(chain, 0), _job(chain, 1)):
            assert chain.account(member_job.provider).free > before[member_job.provider]  # its share
    finally:
        lead.executor.close()
        other.executor.close()


@pytest.mark.slow
def test_a_member_that_reports_a_made_up_delta_is_caught_and_slashed(tmp_path: Path) -> None:
    lm = tiny_causal_lm(tmp_path / "lm")
    chain = _market(lm, sample_rate_ppm=500_000)  # x3 for a new provider: every job checked
    lead, other = _train(chain, lm, tmp_path)
    forger = _job(chain, 1).provider
    forged = _result(other, 1)
    forged["deltas"] = [forged["deltas"][0], forged["deltas"][0]]  # round 1 claims round 0's delta
    raw = encode_result(forged)
    other.blobs.put(raw)
    record = other.progress.get(1)
    assert record is not None
    other.progress.put(record.but(result_hash=blake2b_256(raw), inline=len(raw) <= MAX_INLINE_RESULT))
    executors = []
    verifiers = []
    for key in VALIDATORS:
        view = ChainOfTest(chain, key)
        executor = LocalExecutor(device="cpu", log=tmp_path / f"verifier-{key.public.hex()[:6]}.log")
        store = BlobStore(tmp_path / f"verifier-{key.public.hex()[:6]}")
        store.put(raw)
        executors.append(executor)
        verifiers.append((VerifierWorker(view, executor, {model_hash(lm): lm}, store), view))
    bonded = staking.ledger(chain.state, forger).bonded
    try:
        _run_blocks(chain, [lead, other], verifiers, lambda: _job(chain, 1).status == jobs.JobStatus.REJECTED)
        assert staking.ledger(chain.state, forger).bonded < bonded  # slashed for the made-up round
        assert verification.outcome(chain.state, 1) == verification.CheckStatus.FAILED
    finally:
        for executor in (lead.executor, other.executor, *executors):
            executor.close()


async def _step(worker: Any) -> None:
    async with trio.open_nursery() as nursery:
        worker.step(nursery)


@pytest.mark.slow
def test_a_member_lost_mid_job_is_replaced_and_the_job_goes_on_from_its_last_round(tmp_path: Path) -> None:
    lm = tiny_causal_lm(tmp_path / "lm")
    chain = _market(lm)
    chain.call(BOB, "registry", "register_provider", models=[model_hash(lm)], memory_mb=4096, price=1_000)
    assert BOB.public in _serving(chain, lm)  # a third provider, for the replacement
    long = {**OPTIONS, "rounds": 6, "sync_every": 10}
    args: dict[str, Any] = {"kind": "lora", "model": model_hash(lm), "input": encode(TEXTS), "input_hash": b"",
                            "input_size": 0, "options": long, "max_fee": 10 * UNIT, "deadline": 200,
                            "min_reputation": 0}  # fmt: skip
    assert failed(chain.call(CHARLIE, "jobs", "submit", **args)) is None
    keys = {**PROVIDERS, BOB.public: BOB}
    lead = Member(chain, keys[_job(chain, 0).provider], lm, tmp_path / "lead")
    lost = Member(chain, keys[_job(chain, 1).provider], lm, tmp_path / "lost")
    members = [lead]

    async def train() -> None:
        async with trio.open_nursery() as nursery:
            lead.worker.step(nursery)
            lead.view.flush()
            lost.worker.step(nursery)
            while "round 1 of 6 done" not in _log(tmp_path / "lead"):  # mid-job: SIGKILL the other's runner
                await trio.sleep(0.05)
            lost.executor.close()  # its node is gone too: its worker is never stepped again
            while (record := lead.progress.get(0)) is None or record.state != "waiting":
                await trio.sleep(0.05)
            assert record.rounds_done >= 1
            for _ in range(60):  # the lost member's commit window runs out; a replacement takes it
                lead.worker.step(nursery)
                lead.view.flush()
                replaced = _job(chain, 1)
                if replaced.status == jobs.JobStatus.ASSIGNED and replaced.provider not in (
                    lost.view.account,
                    b"",
                ):
                    break
            replacement = Member(chain, keys[_job(chain, 1).provider], lm, tmp_path / "replacement")
            members.append(replacement)
            replacement.worker.step(nursery)  # joins the lead's new attempt; both go on from the lead's round

    try:
        trio.run(train)
        lead_result, replacement_result = _result(lead, 0), _result(members[1], 1)
        assert lead_result["adapter"] == replacement_result["adapter"]
        assert lead_result["first"] == 0 and replacement_result["first"] >= 1  # it delivered the rest only
        _run_blocks(
            chain, members, [], lambda: all(_job(chain, i).status == jobs.JobStatus.SETTLED for i in (0, 1))
        )
        whole, late = _job(chain, 0), _job(chain, 1)
        first = replacement_result["first"]
        assert late.options["first"] == first and "first" not in whole.options  # declared on chain
        assert whole.fee == whole.price * whole.units  # every round: its whole share
        assert late.fee == late.price * (late.units * (6 - first) // 6)  # only the rounds it delivered
    finally:
        for member in (lead, lost, *members[1:]):
            member.executor.close()


def _log(folder: Path) -> str:
    path = folder / "runner.log"
    return path.read_text(errors="replace") if path.exists() else ""


def _serving(chain: TestChain, lm: Path) -> tuple[bytes, ...]:
    from runtime.pallets import registry

    return registry.Serving.get(chain.state, model_hash(lm))
