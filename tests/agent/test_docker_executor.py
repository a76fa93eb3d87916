"""The Docker executor against a real daemon and the agent image: warm
containers give the local executor's results by each kind's rule, the
sandbox holds (no network, read-only root, no privileges, non-root), and
whatever happens to a container (time limit, memory limit, `docker kill`,
the daemon restarting) costs that job at most, never the executor."""

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.canonical import decode
from agent.docker_executor import DockerExecutor
from agent.docker_spec import ROLE_LABEL, DockerLimits, container_request
from agent.executor import ExecutorError, LocalExecutor, SandboxLost
from agent.job import JobSpec
from agent.kinds import KINDS
from agent.tiny_models import tiny_causal_lm, tiny_encoder
from tests.conftest import docker_client

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow

LORA = JobSpec("lora", ["alpha beta gamma", "delta epsilon"], {"rank": 4, "alpha": 16, "steps": 3,
                                                              "lr_ppm": 10_000, "seed": 0})  # fmt: skip
SLOW_LORA = JobSpec("lora", ["one two three four five six"] * 8, {"rank": 8, "alpha": 16, "steps": 2000,
                                                                  "lr_ppm": 1_000, "seed": 0})  # fmt: skip


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"lm": tiny_causal_lm(root / "lm"), "enc": tiny_encoder(root / "enc")}


@pytest.fixture
def executor(agent_image: str) -> Iterator[DockerExecutor]:
    running = DockerExecutor(image=agent_image, gpu=False)
    try:
        yield running
    finally:
        running.close()


def agent_containers() -> list[Any]:
    client = docker_client()
    try:
        return list(client.containers.list(filters={"label": f"{ROLE_LABEL}=agent", "status": "running"}))
    finally:
        client.close()


def mine(executor: DockerExecutor) -> list[Any]:
    return [c for c in agent_containers() if c.labels.get("vcoin.owner") == executor.owner]


def test_warm_containers_match_the_local_executor_by_each_kinds_rule(
    executor: DockerExecutor, models: dict[str, Path], tmp_path: Path
) -> None:
    jobs = [
        (JobSpec("embed", ["hello world", "GPU providers"]), models["enc"]),
        (JobSpec("inference", "the quick brown fox", {"max_tokens": 8}), models["lm"]),
        (LORA, models["lm"]),
    ]
    local = LocalExecutor(device="cpu", log=tmp_path / "runner.log")
    try:
        for spec, path in jobs:
            in_docker = decode(executor.run(spec, path, timeout=300).encoded)
            at_home = decode(local.run(spec, path, timeout=300).encoded)
            verdict = KINDS[spec.kind].compare(in_docker, at_home)
            assert verdict.match, (spec.kind, verdict.reason)
    finally:
        local.close()
    pieces: list[str] = []
    streamed = executor.run(jobs[1][0], models["lm"], timeout=300, on_piece=pieces.append)
    assert (
        pieces and "".join(pieces) == decode(streamed.encoded)["text"]
    )  # streamed from inside the container
    running = mine(executor)
    assert len(running) == 2  # one per model, each kept warm across jobs
    again = executor.run(jobs[0][0], models["enc"], timeout=300)
    assert {c.id for c in mine(executor)} == {c.id for c in running}
    assert executor.verify(jobs[0][0], models["enc"], again.encoded, timeout=300).match
    for container in running:
        config = container.attrs["HostConfig"]
        assert config["NetworkMode"] == "none" and config["ReadonlyRootfs"] and config["CapDrop"] == ["ALL"]
        assert container.attrs["Config"]["User"].split(":")[0] not in ("", "0", "root")
        model_mount = next(m for m in container.attrs["Mounts"] if m["Destination"] == "/model")
        assert model_mount["RW"] is False
        assert container.labels["vcoin.model"] in (executor.hashes[p] for p in executor.hashes)


def probe(agent_image: str, model: Path, tmp_path: Path, script: str) -> tuple[int, str]:
    """Run `script` in a container of exactly the executor's shape."""
    client = docker_client()
    socket_dir = tmp_path / "sock"
    socket_dir.mkdir(exist_ok=True)
    request = container_request(agent_image, model, socket_dir, False, DockerLimits(memory=512 << 20))
    container = client.containers.run(**{**request, "command": ["python", "-c", script]})
    try:
        status = container.wait(timeout=120)["StatusCode"]
        return status, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
        client.close()


def test_the_sandbox_has_no_network_no_writable_root_and_no_privileges(
    agent_image: str, models: dict[str, Path], tmp_path: Path
) -> None:
    checks = {
        "network": "import socket; s = socket.create_connection(('1.1.1.1', 53), timeout=3)",
        "loopback only": "import socket; assert [n for _, n in socket.if_nameindex()] == ['lo'], "
        "socket.if_nameindex()",
        "root filesystem": "open('/opt/vcoin/evil', 'w')",
        "model": "open('/model/config.json', 'a')",
        "user": "import os; assert os.getuid() != 0",
        "capabilities": "line = [l for l in open('/proc/self/status') if l.startswith('CapEff')][0]; "
        "assert int(line.split()[1], 16) == 0, line",
        "scratch": "open('/tmp/scratch', 'w').write('ok')",
    }
    results = {name: probe(agent_image, models["enc"], tmp_path, script) for name, script in checks.items()}
    assert results["network"][0] != 0 and "Network is unreachable" in results["network"][1]
    assert results["root filesystem"][0] != 0 and "Read-only file system" in results["root filesystem"][1]
    assert results["model"][0] != 0 and any(
        why in results["model"][1] for why in ("Read-only file system", "Permission denied")
    )
    for allowed in ("loopback only", "user", "capabilities", "scratch"):
        assert results[allowed][0] == 0, (allowed, results[allowed][1])


def test_a_job_past_its_time_limit_costs_its_container_only(
    executor: DockerExecutor, models: dict[str, Path]
) -> None:
    executor.run(JobSpec("inference", "warm up", {"max_tokens": 2}), models["lm"], timeout=300)
    (first,) = mine(executor)
    with pytest.raises(ExecutorError, match="limit") as caught:
        executor.run(SLOW_LORA, models["lm"], timeout=2)
    assert not isinstance(caught.value, SandboxLost)  # the job's doing: it is not run again
    assert first.id not in {c.id for c in agent_containers()}
    assert executor.run(JobSpec("inference", "again", {"max_tokens": 2}), models["lm"], timeout=300).hash


def test_a_job_over_the_memory_limit_is_killed(agent_image: str, models: dict[str, Path]) -> None:
    small = DockerExecutor(image=agent_image, gpu=False, limits=DockerLimits(memory=64 << 20))
    try:  # importing torch alone needs more than 64 MiB
        with pytest.raises(ExecutorError, match="more than the container's 64 MiB") as caught:
            small.run(JobSpec("embed", ["hello"]), models["enc"], timeout=300)
        assert not isinstance(caught.value, SandboxLost)
        assert mine(small) == []
    finally:
        small.close()


def test_docker_kill_mid_job_loses_the_sandbox_not_the_executor(
    executor: DockerExecutor, models: dict[str, Path]
) -> None:
    executor.run(JobSpec("inference", "warm up", {"max_tokens": 2}), models["lm"], timeout=300)
    (container,) = mine(executor)
    failure: list[BaseException] = []

    def slow_job() -> None:
        try:
            executor.run(SLOW_LORA, models["lm"], timeout=300)
        except BaseException as exc:  # noqa: BLE001 - the test inspects whatever it was
            failure.append(exc)

    worker = threading.Thread(target=slow_job)
    worker.start()
    time.sleep(1.0)  # the job is under way (it runs for minutes); the kill lands inside it
    subprocess.run(["docker", "kill", container.id], check=True, capture_output=True)
    worker.join(timeout=120)
    assert not worker.is_alive() and failure and isinstance(failure[0], SandboxLost), failure
    assert executor.run(JobSpec("inference", "after", {"max_tokens": 2}), models["lm"], timeout=300).hash
    assert [c.id for c in mine(executor)] != [container.id]


def dockerd_pid() -> str | None:
    found = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True).stdout.split()
    return found[0] if len(found) == 1 else None


def dockerd_command() -> list[str] | None:
    """The running daemon's command line, if this test may restart it: as
    root, with a dockerd that no service manager would restart behind us."""
    if os.getuid() != 0 or Path("/run/systemd/system").exists():
        return None
    pid = dockerd_pid()
    return None if pid is None else Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def daemon_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def test_the_executor_recovers_when_the_daemon_stops_and_starts(
    executor: DockerExecutor, models: dict[str, Path], tmp_path: Path
) -> None:
    command = dockerd_command()
    if command is None:
        pytest.skip("the Docker daemon here is not one this test may restart")
    spec = JobSpec("embed", ["before the restart"])
    before = executor.run(spec, models["enc"], timeout=300)
    subprocess.run(["pkill", "-x", "dockerd"], check=True)
    try:
        wait_for(lambda: dockerd_pid() is None, 120, "the daemon to stop")
        with pytest.raises(SandboxLost):
            executor.run(spec, models["enc"], timeout=60)
    finally:
        with (tmp_path / "dockerd.log").open("ab") as log:
            subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        wait_for(daemon_answers, 120, "the daemon to start again")

    def runs_again() -> bool:  # after the executor's own backoff, with no restart of anything
        try:
            return executor.run(spec, models["enc"], timeout=300).hash == before.hash
        except SandboxLost:
            return False

    wait_for(runs_again, 180, "the executor to run jobs again")


def test_the_containers_of_a_killed_node_are_removed_by_the_next_executor(
    agent_image: str, models: dict[str, Path]
) -> None:
    script = (
        "import time; from pathlib import Path; from agent.docker_executor import DockerExecutor; "
        "from agent.job import JobSpec; "
        f"executor = DockerExecutor(image={agent_image!r}, gpu=False); "
        f"executor.run(JobSpec('embed', ['x']), Path({str(models['enc'])!r}), timeout=300); "
        "print('ready', flush=True); time.sleep(600)"
    )
    root = Path(__file__).resolve().parents[2]
    killed = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=root, text=True)
    try:
        assert killed.stdout is not None and killed.stdout.readline().strip() == "ready"
        (orphan,) = [
            c for c in agent_containers() if c.labels.get("vcoin.owner", "").endswith(f":{killed.pid}")
        ]
        socket_dir = Path(orphan.labels["vcoin.socket"])
        assert socket_dir.is_dir()
    finally:
        killed.kill()
        killed.wait()
    DockerExecutor(image=agent_image, gpu=False).close()
    assert orphan.id not in {c.id for c in agent_containers()} and not socket_dir.exists()


def test_group_members_in_containers_without_a_network_train_one_adapter(
    agent_image: str, models: dict[str, Path], tmp_path: Path
) -> None:
    """Each member of a job spread over two providers runs in its own warm
    container with no network; the executors' relays join the containers'
    Unix sockets to the lead's address. They end with one adapter, the one
    two local runners train (within the LoRA tolerance: thread counts differ)."""
    from safetensors.torch import load

    from agent.kinds.lora import WEIGHT_TOLERANCE
    from tests.agent.test_dlora_member import _run_pair

    dockers = [DockerExecutor(image=agent_image, gpu=False) for _ in range(2)]
    runners = [LocalExecutor(log=tmp_path / f"runner{rank}.log") for rank in range(2)]
    try:
        sandboxed = _run_pair(dockers, models["lm"], {})
        local = _run_pair(runners, models["lm"], {})
        assert sandboxed[0]["adapter"] == sandboxed[1]["adapter"]
        ours, theirs = load(sandboxed[0]["adapter"]), load(local[0]["adapter"])
        assert max(float((ours[k] - theirs[k]).abs().max()) for k in ours) <= WEIGHT_TOLERANCE
        for container in mine(dockers[0]):
            container.reload()
            assert container.attrs["HostConfig"]["NetworkMode"] == "none"
        assert not list(Path(dockers[0].warm[models["lm"].resolve()].socket_dir).glob("group-*"))
    finally:
        for docker in dockers:
            docker.close()
        for runner in runners:
            runner.close()
