"""Building the provider worker from the node's settings (the node itself
never touches the agent)."""

import logging
from pathlib import Path

from agent.device import discover
from agent.executors import make_executor
from offchain.blobs import BlobStore
from offchain.models import local_models
from offchain.progress import ProgressStore
from offchain.provider import ChainView, ProviderWorker, WorkerConfig
from offchain.records import RecordDir
from offchain.verifier import VerifierWorker

log = logging.getLogger("vcoin.worker")


def build_provider_worker(
    chain: ChainView, base_path: Path, blobs: BlobStore, executor: str, model_dirs: list[Path], price: int,
    job_timeout: float, cheat: bool = False,
) -> ProviderWorker:  # fmt: skip
    devices = discover()
    gpu = devices[0].kind == "cuda"
    for device in devices:
        log.info("device %d: %s, %d MB (%s)", device.index, device.name, device.memory_mb, device.kind)
    models = local_models(model_dirs)
    runner_log = base_path / "worker" / "runner.log"
    runner_log.parent.mkdir(parents=True, exist_ok=True)
    return ProviderWorker(
        chain, make_executor(executor, gpu, runner_log), models, blobs,
        ProgressStore(base_path / "worker" / "jobs"),
        WorkerConfig(price=price, memory_mb=devices[0].memory_mb, job_timeout=job_timeout, cheat=cheat),
    )  # fmt: skip


def build_verifier_worker(
    chain: ChainView,
    base_path: Path,
    blobs: BlobStore,
    executor: str,
    model_dirs: list[Path],
    job_timeout: float,
    secret: bytes,
) -> VerifierWorker:
    """A validator's re-execution and known-answer worker, with its own
    sandbox so checks never queue behind the jobs this node serves; `secret`
    (the validator's key seed) derives its known-answer accounts."""
    gpu = discover()[0].kind == "cuda"
    return VerifierWorker(
        chain, make_executor(executor, gpu, base_path / "worker" / "verifier.log"), local_models(model_dirs),
        blobs, job_timeout, RecordDir(base_path / "worker" / "known-answers"), secret,
    )  # fmt: skip
