"""The compute market end to end: `vcoin node --dev --worker` processes, jobs
submitted and fetched with the CLI, results equal to a direct run of the same
code, fees split 80/5/15 exactly, refunds, restarts and missed reveals."""

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.job import JobSpec, Result
from agent.kinds import KINDS
from agent.models import PACKAGED, model_hash
from agent.threads import job_threads
from agent.tiny_models import tiny_causal_lm
from runtime.constants import ppm_of
from runtime.crypto import dev_keypair, to_address
from runtime.types import Extrinsic
from tests.nodeproc import NodeProcess, fast_dev_spec, wait_until
from tools.results import render

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow
WINDOWS = {"job_commit_window": 10, "job_reveal_window": 4, "job_challenge_window": 3}
ALICE = to_address(dev_keypair("//alice").public)
BOB = to_address(dev_keypair("//bob").public)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    tiny_causal_lm(root / "tiny-lm")
    return root


def worker_node(
    tmp_path: Path, models: Path, executor: str = "local", more: tuple[str, ...] = (), **params: int
) -> NodeProcess:
    spec = fast_dev_spec(tmp_path / "spec.json", **{**WINDOWS, **params})
    extra = ["--worker", "--executor", executor, "--model-dir", str(models), *more]
    # these tests audit balances and events at past blocks, which a node
    # keeps for its pruning window: the default one (256) spans the test
    extra += [] if "--state-pruning" in more else ["--state-pruning", "256"]
    return NodeProcess(tmp_path / "node", spec, extra=extra)


@pytest.fixture
def node(tmp_path: Path, models: Path) -> Iterator[NodeProcess]:
    proc = worker_node(tmp_path, models).start()
    try:
        yield proc
    finally:
        proc.stop()


def add_tiny_lm(node: NodeProcess, models: Path) -> None:
    out = node.cli("model", "add", str(models / "tiny-lm"), "--from", "//alice", "--kind", "inference",
                   "--params", "2000000", "--memory-mb", "64", "--name", "tiny-lm")  # fmt: skip
    assert out.returncode == 0, out.stderr
    # the worker notices the newly registered model and re-registers
    tiny = "0x" + model_hash(models / "tiny-lm").hex()
    wait_until(lambda: tiny in node.rpc("vcoin_provider", ALICE)["models"], 30, "the worker to serve tiny-lm")


def submit(node: NodeProcess, *args: str) -> dict[str, Any]:
    out = node.cli("job", "submit", "--from", "//bob", "--wait", "--json", "--timeout", "120", *args)
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    assert printed["job"]["status"] in ("revealed", "settled") and printed["job"]["resultHash"]
    result: dict[str, Any] = printed["result"]
    return result


def latest_job(node: NodeProcess) -> dict[str, Any]:
    listed: list[dict[str, Any]] = node.rpc("vcoin_jobs", {"submitter": BOB})
    return listed[0]


def direct(kind: str, job_input: Any, path: Path, **options: int) -> dict[str, Any]:
    """The kind run in this process with the sandbox's thread count: float
    reductions split over another number of threads differ in their last bits."""
    import torch

    torch.set_num_threads(job_threads())
    payload = KINDS[kind].run(JobSpec(kind, job_input, options), path, "cpu")
    return render(kind, Result.of(payload).encoded)


def test_inference_embed_and_lora_jobs_match_direct_runs_and_split_fees_80_5_15(
    node: NodeProcess, models: Path
) -> None:
    jobs_match_direct_runs_and_split_fees(node, models)


def jobs_match_direct_runs_and_split_fees(node: NodeProcess, models: Path) -> None:
    """Each kind's result through the node equals a direct run; fees settle 80/5/15."""
    add_tiny_lm(node, models)
    burned_before = node.rpc("vcoin_supply")["burned"]
    got_inference = submit(node, "--kind", "inference", "--model", "tiny-lm", "--input", "the quick brown fox",
                           "--max-tokens", "8", "--max-fee", "1")  # fmt: skip
    inference_job = latest_job(node)
    got_embed = submit(node, "--kind", "embed", "--model", "all-minilm-l6-v2", "--input", "some text",
                       "--max-fee", "1")  # fmt: skip
    embed_job = latest_job(node)
    got_lora = submit(node, "--kind", "lora", "--model", "tiny-lm", "--input", "alpha beta gamma",
                      "--input", "delta epsilon", "--steps", "3", "--rank", "4", "--lr-ppm", "10000",
                      "--max-fee", "1")  # fmt: skip
    lora_job = latest_job(node)

    assert got_inference == direct("inference", "the quick brown fox", models / "tiny-lm", max_tokens=8)
    minilm = PACKAGED[0].path()
    assert minilm is not None
    assert got_embed == direct("embed", ["some text"], minilm)
    lora_options = {"rank": 4, "alpha": 16, "steps": 3, "lr_ppm": 10_000, "seed": 0}
    assert got_lora == direct(
        "lora", ["alpha beta gamma", "delta epsilon"], models / "tiny-lm", **lora_options
    )
    adapter = node.base_path.parent / "adapter.safetensors"
    out = node.cli("job", "result", str(lora_job["id"]), "--out", str(adapter))
    assert out.returncode == 0 and adapter.stat().st_size == got_lora["adapterBytes"]

    jobs = [inference_job, embed_job, lora_job]
    wait_until(
        lambda: all(node.rpc("vcoin_job", j["id"])["status"] == "settled" for j in jobs), 60, "settlement"
    )
    settled = {j["id"]: node.rpc("vcoin_job", j["id"]) for j in jobs}
    assert all(j["fee"] == j["units"] * j["price"] > 0 for j in settled.values())
    fees = [j["fee"] for j in settled.values()]
    assert node.rpc("vcoin_supply")["burned"] - burned_before == sum(ppm_of(f, 150_000) for f in fees)
    assert node.rpc("vcoin_account", BOB)["reserved"] == 0
    for number, job_ids in settle_blocks(node, min(j["revealedAt"] for j in settled.values())).items():
        expected = [settled[i]["fee"] for i in job_ids]
        gained, verifier_shares = provider_gain(node, number)
        assert gained == sum(f - ppm_of(f, 150_000) - ppm_of(f, 50_000) for f in expected)  # 80%
        assert verifier_shares == sum(ppm_of(f, 50_000) for f in expected)  # 5%


def settle_blocks(node: NodeProcess, since: int) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for number in range(since, node.best() + 1):
        for event in node.rpc("chain_getEvents", node.rpc("chain_getBlockHash", number)):
            if event["name"] == "Settled":
                found.setdefault(number, []).append(event["data"]["job"])
    return found


def provider_gain(node: NodeProcess, number: int) -> tuple[int, int]:
    """Alice's gain in block `number`, less what else moved her balance there
    (emission rewards, her own transaction fees), and the verifier shares paid."""
    alice = dev_keypair("//alice").public
    block_hash, parent_hash = (
        node.rpc("chain_getBlockHash", number),
        node.rpc("chain_getBlockHash", number - 1),
    )
    events = node.rpc("chain_getEvents", block_hash)
    rewards = sum(e["data"]["amount"] for e in events if e["name"] == "Rewarded" and e["data"]["who"] == "0x" +
                  alice.hex())  # fmt: skip
    shares = sum(e["data"]["amount"] for e in events if e["name"] == "Deposit" and
                 e["data"]["reason"] == "verifier share")  # fmt: skip
    own_fees = 0
    for index, raw in enumerate(node.rpc("chain_getBlock", block_hash)["extrinsics"]):
        if Extrinsic.decode(bytes.fromhex(raw[2:])).signer == alice:
            own_fees += next(e["data"]["fee"] for e in events if e["index"] == index and "fee" in e["data"])
    free = [node.rpc("vcoin_account", ALICE, h)["free"] for h in (parent_hash, block_hash)]
    return free[1] - free[0] - rewards + own_fees, shares


def test_a_job_nobody_serves_is_refunded_at_its_deadline(node: NodeProcess) -> None:
    free_before = node.rpc("vcoin_account", BOB)["free"]
    out = node.cli("model", "add", str(PACKAGED[0].path()) + "/1_Pooling", "--from", "//bob", "--kind", "embed",
                   "--params", "1000", "--name", "nobody-serves")  # fmt: skip
    assert out.returncode == 0, out.stderr
    out = node.cli("job", "submit", "--from", "//bob", "--kind", "embed", "--model", "nobody-serves",
                   "--input", "x", "--max-fee", "1", "--deadline", "4", "--wait", "--timeout", "60")  # fmt: skip
    assert out.returncode == 1 and "refunded" in out.stderr
    assert node.rpc("vcoin_account", BOB)["reserved"] == 0
    # Two transaction fees (weighted: a model registration is heavy), not the 1 VC job fee.
    assert free_before - node.rpc("vcoin_account", BOB)["free"] < 10**8


def test_malformed_jobs_are_refused_with_a_clear_error(node: NodeProcess) -> None:
    base = ["job", "submit", "--from", "//bob", "--max-fee", "1", "--input", "x"]
    cases = {
        ("--kind", "mining", "--model", "all-minilm-l6-v2"): "invalid choice",
        ("--kind", "embed", "--model", "no-such-model"): "Unknown model",
        ("--kind", "inference", "--model", "smollm2-135m", "--max-tokens", "100000"): "max_tokens",
        ("--kind", "embed", "--model", "all-minilm-l6-v2", "--deadline", "0"): "deadline",
    }
    for extra, message in cases.items():
        out = node.cli(*base, *extra)
        assert out.returncode != 0 and message in out.stderr, (extra, out.stderr)
    out = node.cli("job", "submit", "--from", "//bob", "--kind", "embed", "--model", "all-minilm-l6-v2",
                   "--input", "x" * 400, "--max-fee", "0.000000001")  # fmt: skip
    assert out.returncode == 1 and "FeeTooLow" in out.stderr


def test_a_worker_killed_mid_job_resumes_after_restart(tmp_path: Path, models: Path) -> None:
    proc = worker_node(tmp_path, models, job_commit_window=200).start()
    try:
        add_tiny_lm(proc, models)
        out = proc.cli("job", "submit", "--from", "//bob", "--kind", "lora", "--model", "tiny-lm", "--input",
                       "one two three", "--steps", "60", "--max-fee", "10", "--json")  # fmt: skip
        assert out.returncode == 0, out.stderr
        job_id = json.loads(out.stdout)["id"]
        wait_until(lambda: f"job {job_id}: running" in proc.log.read_text(), 30, "the job to start")
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGKILL)
        proc.proc.wait()
        proc.start()
        wait_until(
            lambda: proc.rpc("vcoin_job", job_id)["status"] in ("revealed", "settled"), 400, "resumed job"
        )
        assert proc.log.read_text().count(f"job {job_id}: commit submitted") == 1
    finally:
        proc.stop()


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_a_provider_that_commits_but_never_reveals_is_slashed_5_percent(tmp_path: Path) -> None:
    spec = fast_dev_spec(tmp_path / "spec.json", **WINDOWS)
    node = NodeProcess(tmp_path / "node", spec).start()  # no worker: the test plays the provider
    try:
        charlie = "//charlie"
        assert node.cli("tx", "bond", "--from", charlie, "--amount", "1000").returncode == 0
        out = node.cli("provider", "register", "--from", charlie, "--model", "all-minilm-l6-v2", "--price",
                       "0.000001", "--memory-mb", "1024")  # fmt: skip
        assert out.returncode == 0, out.stderr
        bonded = node.rpc("vcoin_staking", to_address(dev_keypair(charlie).public))["bonded"]
        out = node.cli("job", "submit", "--from", "//bob", "--kind", "embed", "--model", "all-minilm-l6-v2",
                       "--input", "x", "--max-fee", "1", "--deadline", "30", "--json")  # fmt: skip
        job_id = json.loads(out.stdout)["id"]
        assert node.rpc("vcoin_job", job_id)["provider"] == to_address(dev_keypair(charlie).public)
        commit = node.client.submit_call(dev_keypair(charlie), "jobs", "commit",
                                         {"job": job_id, "commitment": b"\x01" * 32})  # fmt: skip
        node.client.wait(commit)
        wait_until(lambda: node.rpc("vcoin_staking", to_address(dev_keypair(charlie).public))["bonded"] < bonded,
                   30, "the missed-reveal slash")  # fmt: skip
        after = node.rpc("vcoin_staking", to_address(dev_keypair(charlie).public))["bonded"]
        assert after == bonded - ppm_of(bonded, 50_000)
    finally:
        node.stop()


def test_large_inputs_and_results_travel_between_nodes_by_hash(tmp_path: Path, models: Path) -> None:
    """A job submitted to a plain node: its large input is put there and
    fetched by the worker's node; its large result is fetched back."""
    worker = worker_node(tmp_path, models, job_commit_window=120).start()  # 400 texts on a loaded CPU
    plain = NodeProcess(tmp_path / "plain", tmp_path / "spec.json", dev=False,
                        extra=["--bootnodes", worker.rpc("system_localListenAddresses")[0]])  # fmt: skip
    try:
        plain.start()
        wait_until(lambda: plain.best() >= worker.best() > 1, 30, "the plain node to follow")
        texts = [f"sentence {i} for the embedding model, long enough to matter" for i in range(400)]
        lines = tmp_path / "texts.txt"
        lines.write_text("\n".join(texts))
        out = plain.cli("job", "submit", "--from", "//bob", "--kind", "embed", "--model", "all-minilm-l6-v2",
                        "--input-file", str(lines), "--max-fee", "10", "--wait", "--json", "--timeout", "120")  # fmt: skip
        assert out.returncode == 0, out.stderr + worker.log.read_text()[-2000:]
        job = plain.rpc("vcoin_jobs", {"submitter": BOB})[0]
        assert job["inputSize"] > 16 * 1024  # referenced by hash, not inline
        assert len(json.loads(out.stdout)["result"]["vectors"]) == 400
        assert "fetched blob" in worker.log.read_text()  # the input, from the plain node
        assert "fetched blob" in plain.log.read_text()  # the result, from the worker's node
    finally:
        plain.stop()
        worker.stop()
