"""`DockerExecutor`: one container per job, the production sandbox.

The container gets the GPUs (a device request), no network, a read-only
root with a tmpfs scratch, memory, CPU and process limits, the model
mounted read-only and a per-job directory holding the request and, after,
the response. The job runs `python -m agent.runner --once`; a container
that outlives its wall-clock timeout is killed. `container_request` is pure
so that what we ask Docker for is tested where no daemon runs.
"""

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.canonical import decode, encode
from agent.executor import Check, Execution, ExecutorError, check_of, execution_of, request_of
from agent.job import JobSpec

DEFAULT_IMAGE = "vcoin/agent:latest"
MODEL_MOUNT = "/model"
JOB_MOUNT = "/job"


@dataclass(frozen=True)
class DockerLimits:
    memory: str = "16g"
    cpus: float = 4.0
    pids: int = 512
    scratch: str = "4g"


def usable_cpus(wanted: float) -> float:
    """The CPU limit the daemon accepts: Docker refuses one above the machine's
    CPU count ("Range of CPUs is from 0.01 to 2.00"), and a limit the
    machine cannot give is no limit anyway."""
    return max(0.01, min(wanted, float(os.cpu_count() or 1)))


def container_request(
    image: str, model_path: Path, job_dir: Path, gpu: bool, limits: DockerLimits
) -> dict[str, Any]:
    """The keyword arguments for `client.containers.run`."""
    from docker.types import DeviceRequest

    model_target = f"{MODEL_MOUNT}/{model_path.name}" if model_path.is_file() else MODEL_MOUNT
    model_source = model_path if model_path.is_dir() else model_path.parent
    request: dict[str, Any] = {
        "image": image,
        "command": [
            "python",
            "-m",
            "agent.runner",
            "--once",
            f"{JOB_MOUNT}/request",
            f"{JOB_MOUNT}/response",
        ],
        "detach": True,
        "network_disabled": True,
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,noexec,nosuid,size={limits.scratch}"},
        "mem_limit": limits.memory,
        "memswap_limit": limits.memory,
        "nano_cpus": int(usable_cpus(limits.cpus) * 1e9),
        "pids_limit": limits.pids,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "environment": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MODEL": model_target},
        "volumes": {
            str(model_source): {"bind": MODEL_MOUNT, "mode": "ro"},
            str(job_dir): {"bind": JOB_MOUNT, "mode": "rw"},
        },
        "working_dir": "/tmp",
    }
    if gpu:
        request["device_requests"] = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    return request


class DockerExecutor:
    name = "docker"

    def __init__(
        self, image: str = DEFAULT_IMAGE, gpu: bool = True, limits: DockerLimits | None = None
    ) -> None:
        import docker

        self.client = docker.from_env()
        self.client.ping()  # fail now, not on the first job, when no daemon answers
        self.image, self.gpu, self.limits = image, gpu, limits or DockerLimits()

    def has_image(self) -> bool:
        try:
            self.client.images.get(self.image)
        except Exception:
            return False
        return True

    def run(self, spec: JobSpec, model_path: Path, timeout: float) -> Execution:
        return execution_of(self._call(spec, model_path, None, timeout))

    def verify(self, spec: JobSpec, model_path: Path, claimed: bytes, timeout: float) -> Check:
        return check_of(self._call(spec, model_path, claimed, timeout))

    def _call(self, spec: JobSpec, model_path: Path, claimed: bytes | None, timeout: float) -> Any:
        try:  # whatever the daemon or the container does, the caller sees one kind of failure
            return self._call_container(spec, model_path, claimed, timeout)
        except ExecutorError:
            raise
        except Exception as exc:
            raise ExecutorError(f"Docker: {type(exc).__name__}: {exc}") from None

    def _call_container(self, spec: JobSpec, model_path: Path, claimed: bytes | None, timeout: float) -> Any:
        job_dir = Path(tempfile.mkdtemp(prefix="vcoin-docker-job-"))
        try:
            inside = Path(MODEL_MOUNT) / model_path.name if model_path.is_file() else Path(MODEL_MOUNT)
            (job_dir / "request").write_bytes(encode(request_of(spec, inside, None, claimed)))
            container = self.client.containers.run(
                **container_request(self.image, model_path, job_dir, self.gpu, self.limits)
            )
            try:
                status = container.wait(timeout=timeout)
            except Exception as exc:
                raise ExecutorError(f"the container ran past its {timeout:.0f} s limit: {exc}") from None
            finally:
                with contextlib.suppress(Exception):
                    container.remove(force=True)
            response = job_dir / "response"
            if status.get("StatusCode") != 0 or not response.exists():
                raise ExecutorError(f"the container exited with {status.get('StatusCode')}")
            return decode(response.read_bytes())
        finally:
            shutil.rmtree(job_dir, ignore_errors=True)

    def close(self) -> None:
        self.client.close()
