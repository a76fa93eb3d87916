"""`vcoin bench agent`: the same job through the worker's sandboxed executor
and as a bare transformers call, in the same run, both with the model warm.

The executor path adds the request and response over the runner's pipe (or,
with `executor="docker"`, the socket into a warm container of the agent
image), canonical encoding and hashing of the result; the bare call is the
model's forward pass and pooling alone. The job (embeddings of a batch of
texts with the packaged MiniLM model) is sized so that the bare call takes at
least `min_seconds`. The headline ratio is executor time / bare time (goal
≤ 1.10). The first job on the fresh executor (for Docker: container start,
model load and the job) is reported apart as `cold_start_seconds`, since a
warm executor pays it once per model, not per job.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.executor import ExecutorError, LocalExecutor
from agent.job import JobSpec
from agent.kinds import embed
from agent.models import PACKAGED
from tools.bench.timing import median_seconds

EXECUTORS = ("local", "docker")
SETTLE_SECONDS = 1.0


class AgentBenchError(RuntimeError):
    """The benchmark cannot run here (no model, no daemon, no image): one line for the user."""


@dataclass(frozen=True)
class AgentBenchResult:
    texts: int
    bare_seconds: float
    executor_seconds: float
    ratio: float
    overhead: float
    repeats: int
    goal_overhead: float = 0.10
    executor: str = "local"
    cold_start_seconds: float = 0.0
    docker: dict[str, Any] = field(default_factory=dict)  # image, image_bytes, cpu_limit; empty for local

    def to_json(self) -> dict[str, Any]:
        figures = {key: value for key, value in self.__dict__.items() if key != "docker"}
        return {"name": "agent", **figures, **self.docker}


def _job(texts: int) -> JobSpec:
    return JobSpec("embed", [f"text {i}: GPU providers run jobs for VCoin" for i in range(texts)])


def _docker_executor() -> tuple[Any, dict[str, Any]]:
    """A `DockerExecutor(gpu=False)` and what the result reports of it,
    checked before the minutes of sizing and timing, not after."""
    try:
        from agent.docker_executor import DockerExecutor
    except ImportError as exc:
        raise AgentBenchError(f"the docker package is missing ({exc}); pip install '.[worker]'") from None
    try:
        executor = DockerExecutor(gpu=False)
    except Exception as exc:
        raise AgentBenchError(
            f"no Docker daemon answers ({type(exc).__name__}); start it (dockerd) and try again"
        ) from None
    try:
        image = executor.client.images.get(executor.image)
    except Exception:
        executor.close()
        raise AgentBenchError(
            f"the agent image {executor.image} is missing; build it: vcoin provider image build"
        ) from None
    from agent.docker_spec import usable_cpus

    # The container's CPU limit is part of what is measured: on a host with
    # more cores than the limit, the bare call has more of them.
    return executor, {
        "image": executor.image, "image_bytes": int(image.attrs.get("Size", 0)),
        "cpu_limit": usable_cpus(executor.limits.cpus),
    }  # fmt: skip


def run(min_seconds: float = 1.0, repeats: int = 5, executor: str = "local") -> AgentBenchResult:
    if executor not in EXECUTORS:
        raise AgentBenchError(f"unknown executor {executor!r}: one of {', '.join(EXECUTORS)}")
    found = PACKAGED[0].path()
    if found is None:
        raise AgentBenchError("the packaged embedding model is not installed (pip install '.[worker]')")
    path: Path = found
    sandbox, docker_info = _docker_executor() if executor == "docker" else (LocalExecutor(device="cpu"), {})
    try:
        texts = 16
        embed.run(_job(texts), path, "cpu")  # warm
        while median_seconds(lambda n=texts: embed.run(_job(n), path, "cpu"), 1) < min_seconds:
            texts *= 2
        spec = _job(texts)
        # In blocks, not interleaved: torch's worker threads spin for a while
        # after each call (here or in the sandbox) and would slow the other side.
        time.sleep(SETTLE_SECONDS)
        start = time.perf_counter()
        sandbox.run(spec, path, timeout=600)  # also warms the sandbox's model
        cold_s = time.perf_counter() - start
        time.sleep(SETTLE_SECONDS)
        bare_s = median_seconds(lambda: embed.run(spec, path, "cpu"), repeats)
        time.sleep(SETTLE_SECONDS)
        worker_s = median_seconds(lambda: sandbox.run(spec, path, timeout=600), repeats)
    except ExecutorError as exc:
        raise AgentBenchError(f"the {executor} executor failed the job: {exc}") from None
    finally:
        sandbox.close()
    ratio = worker_s / bare_s
    return AgentBenchResult(
        texts, bare_s, worker_s, ratio, ratio - 1, repeats,
        executor=executor, cold_start_seconds=cold_s, docker=docker_info,
    )  # fmt: skip
