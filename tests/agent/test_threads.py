from pathlib import Path

import pytest

from agent import docker_spec, threads
from agent.executor import LocalExecutor


def test_a_job_leaves_one_core_to_its_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    assert threads.job_threads() == 7
    assert threads.job_threads(limit=4.0) == 4  # the sandbox's quota, when smaller
    assert threads.job_threads(limit=0.5) == 1
    monkeypatch.setattr(threads, "usable_cores", lambda: 1)
    assert threads.job_threads() == 1  # never none


@pytest.mark.parametrize(("told", "threads_used"), [("3", 3), ("0", 1), ("many", 1), ("", 1)])
def test_the_operators_thread_count_wins_when_valid(
    monkeypatch: pytest.MonkeyPatch, told: str, threads_used: int
) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setenv("OMP_NUM_THREADS", told)
    assert threads.job_threads() == threads_used


def test_the_local_runner_starts_with_the_thread_count(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    executor = LocalExecutor(log=tmp_path / "runner.log")
    try:
        proc = executor._start()
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
        assert b"OMP_NUM_THREADS=3" in environ and b"MKL_NUM_THREADS=3" in environ
    finally:
        executor.close()


def test_the_container_starts_with_the_thread_count(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 16)
    monkeypatch.setattr(docker_spec, "usable_cpus", lambda wanted: wanted)  # as on a 16-core host
    request = docker_spec.container_request(
        "img", tmp_path, tmp_path, False, docker_spec.DockerLimits(cpus=4.0)
    )
    assert request["environment"]["OMP_NUM_THREADS"] == "4"  # its quota: the node has 12 others
