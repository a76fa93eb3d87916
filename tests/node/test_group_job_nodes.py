"""A LoRA job spread over two providers on two real worker nodes: submitted
with the CLI, trained by both (they meet at the lead's rendezvous), settled
once per member with each provider paid, and one adapter for both."""

from pathlib import Path

import pytest

from agent.models import model_hash
from agent.tiny_models import tiny_causal_lm
from runtime.crypto import dev_keypair, to_address
from tests.nodeproc import NodeProcess, fast_dev_spec, wait_until

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow
ALICE, CHARLIE = (to_address(dev_keypair(name).public) for name in ("//alice", "//charlie"))
TEXTS = [f"a fox runs {i} miles to the river and back" for i in range(8)]


def _market(
    tmp_path: Path, names: tuple[str, ...], commit_window: int
) -> tuple[NodeProcess, dict[str, NodeProcess]]:
    """A dev node (//alice, a worker) and worker nodes for `names`, all serving tiny-lm."""
    models = tmp_path / "models"
    tiny_causal_lm(models / "tiny-lm")
    spec = fast_dev_spec(tmp_path / "spec.json", job_commit_window=commit_window, job_reveal_window=10,
                         job_challenge_window=3)  # fmt: skip
    common = ["--worker", "--executor", "local", "--model-dir", str(models)]
    rpc = NodeProcess(tmp_path / "alice", spec, extra=common).start()
    workers: dict[str, NodeProcess] = {}
    try:
        boot = rpc.rpc("system_localListenAddresses")[0]
        for name in names:
            assert rpc.cli_json("tx", "bond", "--from", f"//{name}", "--amount", "200")["success"]
            workers[to_address(dev_keypair(f"//{name}").public)] = NodeProcess(tmp_path / name, spec, dev=False, extra=[
                *common, "--key", f"//{name}", "--allow-dev-keys", "--bootnodes", boot,
            ]).start()  # fmt: skip
        added = rpc.cli("model", "add", str(models / "tiny-lm"), "--from", "//alice", "--kind", "inference",
                        "--params", "2000000", "--memory-mb", "64", "--name", "tiny-lm")  # fmt: skip
        assert added.returncode == 0, added.stderr
        tiny = "0x" + model_hash(models / "tiny-lm").hex()
        for who in (ALICE, *workers):
            wait_until(
                lambda who=who: tiny in rpc.rpc("vcoin_provider", who)["models"], 120, "every worker to serve"
            )
    except BaseException:
        for node in (rpc, *workers.values()):
            node.stop()
        raise
    return rpc, workers


def _stop(rpc: NodeProcess, workers: dict[str, NodeProcess]) -> None:
    for node in (rpc, *workers.values()):
        node.stop()


def _submit(rpc: NodeProcess, *args: str) -> None:
    inputs = [arg for text in TEXTS for arg in ("--input", text)]
    out = rpc.cli("job", "submit", "--from", "//bob", "--kind", "lora", "--model", "tiny-lm", *inputs,
                  "--providers", "2", "--rank", "4", "--lr-ppm", "20000", "--max-fee", "2", *args)  # fmt: skip
    assert out.returncode == 0, out.stderr


def test_two_worker_nodes_train_one_lora_job_and_both_are_paid(tmp_path: Path) -> None:
    rpc, workers = _market(tmp_path, ("charlie",), commit_window=90)
    try:
        before = {who: rpc.rpc("vcoin_account", who)["free"] for who in (ALICE, CHARLIE)}
        _submit(rpc, "--sync-every", "3", "--rounds", "2", "--wait", "--timeout", "400",
                "--out", str(tmp_path / "lead.safetensors"))  # fmt: skip
        members = [rpc.rpc("vcoin_job", i) for i in (0, 1)]
        assert {m["provider"] for m in members} == {ALICE, CHARLIE}
        wait_until(
            lambda: all(rpc.rpc("vcoin_job", i)["status"] == "settled" for i in (0, 1)), 240, "both settled"
        )
        other = rpc.cli("job", "result", "1", "--out", str(tmp_path / "other.safetensors"))
        assert other.returncode == 0, other.stderr
        assert (tmp_path / "lead.safetensors").read_bytes() == (tmp_path / "other.safetensors").read_bytes()
        for who in (ALICE, CHARLIE):
            assert rpc.rpc("vcoin_account", who)["free"] > before[who]  # its share of the fee
    finally:
        _stop(rpc, workers)


def test_a_worker_node_killed_mid_job_is_replaced_and_the_job_settles(tmp_path: Path) -> None:
    rpc, workers = _market(tmp_path, ("charlie", "dave"), commit_window=30)
    try:
        _submit(rpc, "--sync-every", "10", "--rounds", "6", "--deadline", "400")
        wait_until(
            lambda: all(rpc.rpc("vcoin_job", i)["provider"] for i in (0, 1)), 60, "both members assigned"
        )
        members = {i: rpc.rpc("vcoin_job", i)["provider"] for i in (0, 1)}
        lost = next(i for i, who in members.items() if who in workers)  # never the node we ask
        victim = workers[members[lost]]
        runner_log = victim.base_path / "worker" / "runner.log"
        wait_until(lambda: runner_log.exists() and "round 1 of 6 done" in runner_log.read_text(errors="replace"),
                   180, "the first round")  # fmt: skip
        victim.kill()
        wait_until(
            lambda: all(rpc.rpc("vcoin_job", i)["status"] == "settled" for i in (0, 1)), 400, "both settled"
        )
        assert rpc.rpc("vcoin_job", lost)["provider"] != members[lost]  # a third provider took the lost part
        for i in (0, 1):
            got = rpc.cli("job", "result", str(i), "--out", str(tmp_path / f"{i}.safetensors"))
            assert got.returncode == 0, got.stderr
        assert (tmp_path / "0.safetensors").read_bytes() == (tmp_path / "1.safetensors").read_bytes()
    finally:
        _stop(rpc, workers)
