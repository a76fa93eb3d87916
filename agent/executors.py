"""Picking an executor for `--executor docker|local|auto`."""

import logging
from pathlib import Path

from agent.executor import Executor, LocalExecutor

log = logging.getLogger("vcoin.agent")
CHOICES = ("auto", "docker", "local")


def make_executor(choice: str, gpu: bool, log_path: Path | None = None) -> Executor:
    if choice not in CHOICES:
        raise ValueError(f"--executor must be one of {', '.join(CHOICES)}")
    if choice in ("docker", "auto"):
        try:
            from agent.docker_executor import DockerExecutor

            executor = DockerExecutor(gpu=gpu)
        except Exception as exc:
            if choice == "docker":
                raise ValueError(f"the Docker executor is unavailable: {exc}") from None
            log.info("no Docker daemon (%s): using the local process executor", type(exc).__name__)
        else:
            if choice == "docker" or executor.has_image():
                return executor
            executor.close()  # a daemon without the agent image cannot run a job: `auto` means local then
            log.info("Docker answers but has no %s image: using the local process executor", executor.image)
    return LocalExecutor(log=log_path)
