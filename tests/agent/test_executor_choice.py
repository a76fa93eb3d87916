"""`--executor auto` picks Docker only when a daemon answers and holds the
agent image; otherwise the local sandbox (a daemon without the image
cannot run a job, and used to fail every one)."""

from typing import Any

import pytest

from agent.executor import LocalExecutor
from agent.executors import make_executor


def _daemon() -> Any:
    try:
        import docker

        client = docker.from_env()
        client.ping()
        return client
    except Exception:
        return None


def test_auto_without_a_daemon_or_an_image_is_the_local_sandbox() -> None:
    pytest.importorskip("docker")
    client = _daemon()
    if client is not None:
        from agent.docker_executor import DEFAULT_IMAGE

        try:
            client.images.get(DEFAULT_IMAGE)
            pytest.skip("this daemon holds the agent image: auto rightly picks Docker")
        except Exception:
            pass
    executor = make_executor("auto", gpu=False)
    try:
        assert isinstance(executor, LocalExecutor)
    finally:
        executor.close()


def test_docker_asked_for_by_name_needs_a_daemon() -> None:
    pytest.importorskip("docker")
    if _daemon() is None:
        with pytest.raises(ValueError, match="Docker executor is unavailable"):
            make_executor("docker", gpu=False)
    else:
        executor = make_executor("docker", gpu=False)
        assert executor.name == "docker"
        executor.close()
