"""The verifier worker over the real runtime (a test chain) and the real
sandboxed executor on a tiny model: an honest result gets a match verdict,
a doctored one a mismatch, and the verdict lands on chain."""

from pathlib import Path
from typing import Any

import pytest
import trio

from agent.canonical import encode as encode_result
from agent.executor import LocalExecutor
from agent.job import JobSpec, Result
from agent.kinds import inference
from agent.models import model_hash
from agent.tiny_models import tiny_causal_lm
from genesis.spec import local_spec
from offchain.blobs import BlobStore
from offchain.verifier import VerifierWorker
from runtime import constants
from runtime.codec import blake2b_256, encode
from runtime.constants import UNIT
from runtime.crypto import Keypair
from runtime.pallets import jobs, reputation, verification
from tests.chain import ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE, TestChain, failed
from tests.offchain.view import ChainOfTest

pytest.importorskip("transformers")
VALIDATORS = {k.public: k for k in (ALICE, BOB, CHARLIE, DAVE)}
PROMPT = "the quick brown fox"


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("lm"))


def checked_job(lm: Path, result: bytes) -> tuple[TestChain, jobs.Job, Keypair]:
    chain = TestChain(local_spec(), replicate=False, job_commit_window=3, job_reveal_window=3,
                      job_challenge_window=3, verify_window=6, sample_rate_ppm=500_000)  # fmt: skip
    digest = model_hash(lm)
    chain.call(EVE, "registry", "register_model", hash=digest, model_name="tiny", kind="inference",
               params=2_000_000, memory_mb=64)  # fmt: skip
    chain.call(EVE, "staking", "bond", amount=1_000 * UNIT)
    chain.call(EVE, "registry", "register_provider", models=[digest], memory_mb=4096, price=1_000)
    reputation.Records.put(chain.state, EVE.public, reputation.Record(score=0))  # always checked
    args: dict[str, Any] = {"kind": "inference", "model": digest, "input": encode(PROMPT), "input_hash": b"",
                            "input_size": 0, "options": {"max_tokens": 6}, "max_fee": UNIT, "deadline": 30,
                            "min_reputation": 0}  # fmt: skip
    assert failed(chain.call(FERDIE, "jobs", "submit", **args)) is None
    result_hash, salt = blake2b_256(result), b"s" * 32
    chain.call(EVE, "jobs", "commit", job=0, commitment=jobs.commitment(result_hash, salt))
    chain.call(EVE, "jobs", "reveal", job=0, result_hash=result_hash, salt=salt, result=result)
    chain.advance_to(chain.head.number + constants.SAMPLE_DELAY)
    check = verification.check(chain.state, 0)
    assert check is not None
    found = jobs.job(chain.state, 0)
    assert found is not None
    return chain, found, VALIDATORS[check.verifiers[0]]


def verify(chain: TestChain, key: Keypair, lm: Path, tmp: Path) -> ChainOfTest:
    view = ChainOfTest(chain, key)
    worker = VerifierWorker(view, LocalExecutor(device="cpu"), {model_hash(lm): lm}, BlobStore(tmp / "blobs"))

    async def once() -> None:
        async with trio.open_nursery() as nursery:
            worker.step(nursery)
        worker.executor.close()

    trio.run(once)
    return view


def test_an_honest_result_gets_a_match_verdict_on_chain(lm: Path, tmp_path: Path) -> None:
    honest = Result.of(inference.run(JobSpec("inference", PROMPT, {"max_tokens": 6}), lm, "cpu")).encoded
    chain, _, verifier = checked_job(lm, honest)
    view = verify(chain, verifier, lm, tmp_path)
    assert len(view.sent) == 1
    events = chain.produce(view.sent).events
    assert any(e.name == "Verdict" and e.data["match"] is True for e in events)
    assert verification.outcome(chain.state, 0) == verification.CheckStatus.PASSED


def test_a_doctored_result_gets_a_mismatch_and_opens_a_dispute(lm: Path, tmp_path: Path) -> None:
    payload = inference.run(JobSpec("inference", PROMPT, {"max_tokens": 6}), lm, "cpu")
    lazy = encode_result({**payload, "tokens": [(t + 7) % 30522 for t in payload["tokens"]]})
    chain, _, verifier = checked_job(lm, lazy)
    view = verify(chain, verifier, lm, tmp_path)
    chain.produce(view.sent)
    check = verification.check(chain.state, 0)
    assert check is not None and check.status == verification.CheckStatus.DISPUTED
    assert check.verdicts[0][1] is False
