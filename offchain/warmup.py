"""Warm before online: the provider worker loads every model it would serve
before it advertises it on chain (`registry.register_provider`, heartbeats).

A cold load can take longer than a job's whole commit window (a GGUF model
is de-quantized on load: tens of seconds on a CPU), so a worker that
registered first and loaded on its first job would miss that job's window.
Warming runs one tiny job of the model's kind through the executor, the
same path a real job takes, so it fills the runner's model cache (`agent.loading`)
or starts the model's warm Docker container. A model that fails to load is
reported once and never advertised; a restart tries again.
"""

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import trio

from agent.executor import Executor, ExecutorError
from agent.job import JobSpec
from runtime.pallets.job_types import JobKind

log = logging.getLogger("vcoin.worker")

# The smallest job of each kind that loads its model; LoRA-only models load per
# job (their training builds a fresh model), so they have nothing to keep warm.
WARM_SPECS: dict[JobKind, JobSpec] = {
    JobKind.INFERENCE: JobSpec("inference", "Hello", {"max_tokens": 1}),
    JobKind.EMBED: JobSpec("embed", ["Hello"]),
}


def is_warm_up(spec: JobSpec) -> bool:
    return spec in WARM_SPECS.values()


@dataclass
class Warmup:
    """Which local models are loaded (`ready`), failed to load (`broken`,
    with why) or are loading now."""

    ready: set[bytes] = field(default_factory=set)
    broken: dict[bytes, str] = field(default_factory=dict)
    loading: set[bytes] = field(default_factory=set)

    def wanted(self, models: dict[bytes, JobKind]) -> dict[bytes, JobKind]:
        """The models (hash -> kind) not yet tried."""
        done = self.ready | set(self.broken) | self.loading
        return {h: kind for h, kind in sorted(models.items()) if h not in done}

    async def warm(
        self, executor: Executor, paths: dict[bytes, Path], models: dict[bytes, tuple[str, JobKind]],
        limiter: trio.CapacityLimiter, timeout: float,
    ) -> None:  # fmt: skip
        """Load each of `models` (hash -> (name, kind)) in turn, one executor
        at a time with the jobs; log how long each took. Also after the
        executor was stopped (a job cut short): the models stay advertised
        while they load again."""
        self.loading |= set(models)
        try:
            for model, (name, kind) in sorted(models.items()):
                spec = WARM_SPECS.get(kind)
                start = time.monotonic()
                try:
                    if spec is not None:
                        await trio.to_thread.run_sync(
                            executor.run, spec, paths[model], timeout, limiter=limiter
                        )
                except ExecutorError as exc:
                    self.broken[model] = str(exc)
                    log.error("model %s cannot be loaded, so it is not advertised: %s", name, exc)
                else:
                    self.ready.add(model)
                    seconds = time.monotonic() - start
                    how = f"loaded in {seconds:.1f} s" if spec is not None else "loads per job"
                    log.info("model %s ready (%s, executor %s)", name, how, executor.name)
                finally:
                    self.loading.discard(model)
        finally:
            self.loading -= set(models)
