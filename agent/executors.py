"""Picking an executor for `--executor docker|local|auto`: `auto` is Docker
only when the daemon answers and the agent image is there, and the log
says why it chose what it chose."""

import logging
from pathlib import Path

from agent.docker_spec import CPU_IMAGE, DockerLimits
from agent.executor import Executor, LocalExecutor

log = logging.getLogger("vcoin.agent")
CHOICES = ("auto", "docker", "local")


def make_executor(
    choice: str, gpu: bool, log_path: Path | None = None, memory_bytes: int | None = None
) -> Executor:
    if choice not in CHOICES:
        raise ValueError(f"--executor must be one of {', '.join(CHOICES)}")
    if choice == "local":
        return LocalExecutor(memory_bytes=memory_bytes, log=log_path)
    try:
        from agent.docker_executor import DockerExecutor

        executor = DockerExecutor(gpu=gpu, limits=DockerLimits(memory=memory_bytes))
    except Exception as exc:
        why = f"no Docker daemon answers ({type(exc).__name__})"
        if choice == "docker":
            raise ValueError(f"--executor docker: {why}; start dockerd, or use --executor local") from None
        log.info("executor: local process sandbox (%s)", why)
        return LocalExecutor(memory_bytes=memory_bytes, log=log_path)
    if not executor.has_image() and gpu:
        log.warning(
            "a GPU was found but the CUDA agent image %s is missing: trying %s", executor.image, CPU_IMAGE
        )
        executor.image = CPU_IMAGE
    if executor.has_image():
        log.info("executor: Docker, warm containers of %s", executor.image)
        return executor
    executor.close()
    build = "vcoin provider image build" + (" --cuda" if gpu else "")
    why = f"Docker answers but has no {executor.image} image (build it: {build})"
    if choice == "docker":
        raise ValueError(f"--executor docker: {why}")
    log.info("executor: local process sandbox (%s)", why)
    return LocalExecutor(memory_bytes=memory_bytes, log=log_path)
