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

            return DockerExecutor(gpu=gpu)
        except Exception as exc:
            if choice == "docker":
                raise ValueError(f"the Docker executor is unavailable: {exc}") from None
            log.info("no Docker daemon (%s): using the local process executor", type(exc).__name__)
    return LocalExecutor(log=log_path)
