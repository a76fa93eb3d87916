"""`vcoin bench agent`: the same job through the worker's sandboxed executor
and as a bare transformers call, in the same run, both with the model warm.

The executor path adds the request and response over the runner's pipe,
canonical encoding and hashing of the result; the bare call is the model's
forward pass and pooling alone. The job (embeddings of a batch of texts with
the packaged MiniLM model) is sized so that the bare call takes at least
`min_seconds`. The headline ratio is executor time / bare time (goal ≤ 1.10).
"""

import time
from dataclasses import dataclass
from typing import Any

from agent.executor import LocalExecutor
from agent.job import JobSpec
from agent.kinds import embed
from agent.models import PACKAGED
from tools.bench.timing import median_seconds


@dataclass(frozen=True)
class AgentBenchResult:
    texts: int
    bare_seconds: float
    executor_seconds: float
    ratio: float
    overhead: float
    repeats: int
    goal_overhead: float = 0.10

    def to_json(self) -> dict[str, Any]:
        return {"name": "agent", **self.__dict__}


def _job(texts: int) -> JobSpec:
    return JobSpec("embed", [f"text {i}: GPU providers run jobs for VCoin" for i in range(texts)])


def run(min_seconds: float = 1.0, repeats: int = 5) -> AgentBenchResult:
    path = PACKAGED[0].path()
    if path is None:
        raise RuntimeError("the packaged embedding model is not installed (pip install '.[worker]')")
    texts = 16
    embed.run(_job(texts), path, "cpu")  # warm
    while median_seconds(lambda n=texts: embed.run(_job(n), path, "cpu"), 1) < min_seconds:
        texts *= 2
    spec = _job(texts)
    executor = LocalExecutor(device="cpu")
    try:
        executor.run(spec, path, timeout=600)  # warm the sandbox's model too
        # In blocks, not interleaved: torch's worker threads in this process
        # spin for a while after each call and would slow the sandbox's run.
        bare_s = median_seconds(lambda: embed.run(spec, path, "cpu"), repeats)
        time.sleep(1.0)
        worker_s = median_seconds(lambda: executor.run(spec, path, timeout=600), repeats)
    finally:
        executor.close()
    return AgentBenchResult(texts, bare_s, worker_s, worker_s / bare_s, worker_s / bare_s - 1, repeats)
