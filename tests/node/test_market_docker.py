"""The market end to end once more with `--executor docker`: real nodes whose
worker runs jobs in warm containers of the agent image. Results equal the
direct runs; a container killed mid-job or a job over its memory costs the
job at most, while the node goes on authoring; a job is paid once."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.docker_spec import MODEL_LABEL, OWNER_LABEL, ROLE_LABEL
from agent.models import model_hash
from tests.conftest import docker_client
from tests.node.test_market import (
    ALICE,
    add_tiny_lm,
    jobs_match_direct_runs_and_split_fees,
    worker_node,
)
from tests.nodeproc import NodeProcess, wait_until

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agent.tiny_models import tiny_causal_lm

    root = tmp_path_factory.mktemp("models")
    tiny_causal_lm(root / "tiny-lm")
    return root


def containers_of(node: NodeProcess) -> list[Any]:
    """The node's running agent containers (labelled with its host and pid)."""
    assert node.proc is not None
    client = docker_client()
    try:
        running = client.containers.list(filters={"label": f"{ROLE_LABEL}=agent", "status": "running"})
        return [c for c in running if c.labels.get(OWNER_LABEL, "").endswith(f":{node.proc.pid}")]
    finally:
        client.close()


@pytest.fixture
def docker_node(agent_image: str, tmp_path: Path, models: Path) -> Iterator[NodeProcess]:
    proc = worker_node(tmp_path, models, "docker", job_commit_window=200).start()
    try:
        yield proc
    finally:
        proc.stop()


def test_jobs_in_warm_containers_match_direct_runs_and_settle(docker_node: NodeProcess, models: Path) -> None:
    jobs_match_direct_runs_and_split_fees(docker_node, models)
    assert "executor: Docker, warm containers of vcoin/agent:latest" in docker_node.log.read_text()
    running = containers_of(docker_node)
    assert 1 <= len(running) <= 2  # warm, one per model, at most two kept
    for container in running:
        assert container.attrs["HostConfig"]["NetworkMode"] == "none"
        assert container.attrs["HostConfig"]["ReadonlyRootfs"]


def submit_lora(node: NodeProcess, steps: int) -> int:
    out = node.cli("job", "submit", "--from", "//bob", "--kind", "lora", "--model", "tiny-lm", "--input",
                   "one two three", "--steps", str(steps), "--max-fee", "10", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    job_id: int = json.loads(out.stdout)["id"]
    return job_id


def test_a_container_killed_mid_job_costs_the_node_nothing_and_the_job_is_paid_once(
    docker_node: NodeProcess, models: Path
) -> None:
    add_tiny_lm(docker_node, models)
    # long enough to be killed mid-run: the model is warm (loaded before the
    # worker went online), so a short job is done before the test can act
    job_id = submit_lora(docker_node, 4_000)
    wait_until(lambda: f"job {job_id}: running" in docker_node.log.read_text(), 60, "the job to start")
    tiny = model_hash(models / "tiny-lm").hex()  # every served model has a warm container: this job's

    def its_container() -> list[Any]:
        return [c for c in containers_of(docker_node) if c.labels.get(MODEL_LABEL) == tiny]

    wait_until(its_container, 60, "its container")
    (container,) = its_container()
    container.kill()
    at_kill = docker_node.best()
    wait_until(lambda: "the sandbox failed" in docker_node.log.read_text(), 60, "the worker to see it")
    wait_until(lambda: docker_node.best() >= at_kill + 3, 60, "the node to go on authoring")
    wait_until(
        lambda: docker_node.rpc("vcoin_job", job_id)["status"] == "settled",
        400,
        "the job, run again, to settle",
    )
    log = docker_node.log.read_text()
    assert log.count(f"job {job_id}: commit submitted") == 1
    settled = [
        e
        for n in range(1, docker_node.best() + 1)
        for e in docker_node.rpc("chain_getEvents", docker_node.rpc("chain_getBlockHash", n))
        if e["name"] == "Settled" and e["data"]["job"] == job_id
    ]
    assert len(settled) == 1
    assert docker_node.rpc("vcoin_provider", ALICE)["jobsDone"] >= 1


def test_a_job_over_its_memory_is_killed_while_the_node_keeps_authoring(
    agent_image: str, tmp_path: Path, models: Path
) -> None:
    proc = worker_node(tmp_path, models, "docker", ("--job-memory-mb", "64")).start()
    try:
        out = proc.cli("job", "submit", "--from", "//bob", "--kind", "embed", "--model", "all-minilm-l6-v2",
                       "--input", "some text", "--max-fee", "1", "--deadline", "30", "--json")  # fmt: skip
        assert out.returncode == 0, out.stderr
        job_id = json.loads(out.stdout)["id"]
        wait_until(lambda: "more than the container's 64 MiB" in proc.log.read_text(), 120, "the kill")
        at_kill = proc.best()
        wait_until(lambda: proc.best() >= at_kill + 3, 60, "the node to go on authoring")
        wait_until(lambda: proc.rpc("vcoin_job", job_id)["status"] == "refunded", 120, "the refund")
        assert proc.log.read_text().count(f"job {job_id}: commit submitted") == 0
    finally:
        proc.stop()
