"""A LoRA job spread over two providers, end to end over the real runtime:
two provider workers with their own sandboxed runners take the two member
jobs, the lead publishes its rendezvous, the other member joins it, both
train the same adapter, commit, reveal, and are paid their share."""

from pathlib import Path
from typing import Any

import pytest
import trio

from agent.canonical import decode
from agent.executor import LocalExecutor
from agent.models import model_hash
from agent.tiny_models import tiny_causal_lm
from genesis.spec import local_spec
from offchain.blobs import BlobStore
from offchain.progress import ProgressStore
from offchain.provider import ProviderWorker, WorkerConfig
from runtime.codec import encode
from runtime.constants import UNIT
from runtime.crypto import Keypair
from runtime.pallets import job_groups, jobs
from tests.chain import CHARLIE, EVE, FERDIE, TestChain, failed
from tests.offchain.view import ChainOfTest

pytest.importorskip("transformers")
TEXTS = [f"a fox runs {i} miles to the river and back" for i in range(8)]
OPTIONS = {"providers": 2, "sync_every": 3, "rounds": 2, "lr_ppm": 20_000, "seed": 1, "rank": 4, "alpha": 8}


class Member:
    def __init__(self, chain: TestChain, key: Keypair, lm: Path, tmp: Path) -> None:
        self.view = ChainOfTest(chain, key)
        self.executor = LocalExecutor(device="cpu", log=tmp / "runner.log")
        self.progress, self.blobs = ProgressStore(tmp / "progress"), BlobStore(tmp / "blobs")
        self.worker = ProviderWorker(self.view, self.executor, {model_hash(lm): lm}, self.blobs, self.progress,
                                     WorkerConfig(price=1_000, memory_mb=4096, job_timeout=300))  # fmt: skip


def _market(lm: Path) -> TestChain:
    chain = TestChain(local_spec(), replicate=False, job_commit_window=30, job_reveal_window=10)
    digest = model_hash(lm)
    chain.call(EVE, "registry", "register_model", hash=digest, model_name="tiny", kind="inference",
               params=2_000_000, memory_mb=64)  # fmt: skip
    for key in (EVE, FERDIE):
        chain.call(key, "staking", "bond", amount=1_000 * UNIT)
        chain.call(key, "registry", "register_provider", models=[digest], memory_mb=4096, price=1_000)
    return chain


@pytest.mark.slow
def test_two_workers_train_a_group_job_and_are_each_paid_their_share(tmp_path: Path) -> None:
    lm = tiny_causal_lm(tmp_path / "lm")
    chain = _market(lm)
    args: dict[str, Any] = {"kind": "lora", "model": model_hash(lm), "input": encode(TEXTS), "input_hash": b"",
                            "input_size": 0, "options": OPTIONS, "max_fee": 10 * UNIT, "deadline": 60,
                            "min_reputation": 0}  # fmt: skip
    assert failed(chain.call(CHARLIE, "jobs", "submit", **args)) is None
    group = [jobs.job(chain.state, i) for i in (0, 1)]
    assert all(m is not None and m.status == jobs.JobStatus.ASSIGNED for m in group)
    by_key = {EVE.public: EVE, FERDIE.public: FERDIE}
    lead_job, other_job = group
    assert lead_job is not None and other_job is not None
    lead = Member(chain, by_key[lead_job.provider], lm, tmp_path / "lead")
    other = Member(chain, by_key[other_job.provider], lm, tmp_path / "other")

    async def train() -> None:
        async with trio.open_nursery() as nursery:
            other.worker.step(nursery)  # no rendezvous yet: it waits
            assert other.progress.get(1) is None
            lead.worker.step(nursery)  # publishes its address and starts listening there
            lead.view.flush()
            assert job_groups.Rendezvous.get(chain.state, 0)
            other.worker.step(nursery)  # joins; the nursery ends when both runs end

    try:
        trio.run(train)
        records = [lead.progress.get(0), other.progress.get(1)]
        assert all(r is not None and r.state == "done" for r in records), records
        lead_result = decode(lead.blobs.get(records[0].result_hash))  # type: ignore[union-attr]
        other_result = decode(other.blobs.get(records[1].result_hash))  # type: ignore[union-attr]
        assert lead_result["adapter"] == other_result["adapter"]  # one adapter, trained by both
        paid = {key: chain.account(key).free for key in by_key}
        for _ in range(40):  # commit, reveal, and the challenge window, block by block
            for member in (lead, other):
                trio.run(_step, member)
                member.view.flush()
            if all(jobs.job(chain.state, i).status == jobs.JobStatus.SETTLED for i in (0, 1)):  # type: ignore[union-attr]
                break
        settled = [jobs.job(chain.state, i) for i in (0, 1)]
        assert all(s is not None and s.status == jobs.JobStatus.SETTLED for s in settled)
        for member_job in settled:
            assert (
                member_job is not None and chain.account(member_job.provider).free > paid[member_job.provider]
            )
    finally:
        lead.executor.close()
        other.executor.close()


async def _step(member: Member) -> None:
    async with trio.open_nursery() as nursery:
        member.worker.step(nursery)
