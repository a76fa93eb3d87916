"""Building the provider worker from the node's settings (the node itself
never touches the agent)."""

import logging
from dataclasses import dataclass
from pathlib import Path

from agent.device import discover
from agent.executor import Executor
from agent.executors import make_executor
from offchain.blobs import BlobStore
from offchain.models import local_models
from offchain.progress import ProgressStore
from offchain.provider import ChainView, ProviderWorker, WorkerConfig
from offchain.records import RecordDir
from offchain.serving import ServingDesk
from offchain.session_store import SessionStore
from offchain.verifier import VerifierWorker

log = logging.getLogger("vcoin.worker")


@dataclass(frozen=True)
class Sandbox:
    """How jobs run on this node: `--executor`, `--job-timeout`, `--job-memory-mb`."""

    executor: str = "auto"
    job_timeout: float = 900.0
    memory_mb: int | None = None  # None: half the machine's memory

    def make(self, gpu: bool, log_path: Path) -> Executor:
        memory = None if self.memory_mb is None else self.memory_mb << 20
        return make_executor(self.executor, gpu, log_path, memory)


def build_provider_worker(
    chain: ChainView, base_path: Path, blobs: BlobStore, sandbox: Sandbox, model_dirs: list[Path], price: int,
    chain_id: bytes, api_url: str = "", rendezvous_host: str = "127.0.0.1",
    packaged: tuple[str, ...] | None = None,
) -> ProviderWorker:  # fmt: skip
    devices = discover()
    gpu = devices[0].kind == "cuda"
    for device in devices:
        log.info("device %d: %s, %d MB (%s)", device.index, device.name, device.memory_mb, device.kind)
    models = local_models(model_dirs, packaged)
    runner_log = base_path / "worker" / "runner.log"
    runner_log.parent.mkdir(parents=True, exist_ok=True)
    worker = ProviderWorker(
        chain, sandbox.make(gpu, runner_log), models, blobs,
        ProgressStore(base_path / "worker" / "jobs"),
        WorkerConfig(price=price, memory_mb=devices[0].memory_mb, job_timeout=sandbox.job_timeout, api_url=api_url,
                     rendezvous_host=rendezvous_host),
    )  # fmt: skip
    store = SessionStore(base_path / "worker" / "sessions")
    worker.desk = ServingDesk(chain, worker.executor, models, store, worker.limiter, chain_id)
    return worker


def build_verifier_worker(
    chain: ChainView,
    base_path: Path,
    blobs: BlobStore,
    sandbox: Sandbox,
    model_dirs: list[Path],
    secret: bytes,
    packaged: tuple[str, ...] | None = None,
) -> VerifierWorker:
    """A validator's re-execution and known-answer worker, with its own
    sandbox so checks never queue behind the jobs this node serves; `secret`
    (the validator's key seed) derives its known-answer accounts."""
    gpu = discover()[0].kind == "cuda"
    return VerifierWorker(
        chain, sandbox.make(gpu, base_path / "worker" / "verifier.log"), local_models(model_dirs, packaged),
        blobs, sandbox.job_timeout, RecordDir(base_path / "worker" / "known-answers"), secret,
    )  # fmt: skip
