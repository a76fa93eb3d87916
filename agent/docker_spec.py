"""What the Docker executor asks the daemon for: a pure function of the
image, the model, the socket folder and the host's limits, so the sandbox's
shape is tested where no daemon runs.

One warm container per model and device serves job after job with the
model loaded: `agent.runner --listen` on a Unix socket in a folder mounted
from the host. The container has no network, a read-only root, a tmpfs
scratch, no capabilities, no new privileges, a non-root user, a process
limit, memory and CPU limits that the host can give, the model mounted
read-only, and GPUs only when NVML found some.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.threads import thread_env

CPU_IMAGE = "vcoin/agent:latest"  # what `vcoin provider image build` tags
CUDA_IMAGE = "vcoin/agent:cuda"  # ... and with --cuda
AGENT_USER = "10001:10001"  # the image's `agent` user
MODEL_MOUNT = "/model"
SOCKET_MOUNT = "/run/vcoin"
SOCKET_NAME = "agent.sock"
ROLE_LABEL, MODEL_LABEL, OWNER_LABEL = "vcoin.role", "vcoin.model", "vcoin.owner"
SOCKET_LABEL = "vcoin.socket"  # the host folder of its socket, removed with an orphan
IDLE_EXIT_SECONDS = 120  # a container whose node is gone exits by itself


@dataclass(frozen=True)
class DockerLimits:
    memory: int | None = None  # bytes; None: half the host's memory
    cpus: float = 4.0
    pids: int = 512
    scratch: str = "4g"


def host_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        return 16 << 30


def usable_cpus(wanted: float) -> float:
    """The CPU limit the daemon accepts: Docker refuses one above the machine's
    CPU count ("Range of CPUs is from 0.01 to 2.00"), and a limit the
    machine cannot give is no limit anyway."""
    return max(0.01, min(wanted, float(os.cpu_count() or 1)))


def usable_memory(wanted: int | None) -> int:
    """At most what the host has; by default half of it, so a job cannot
    starve the node beside it. Docker's floor is 6 MiB."""
    total = host_memory()
    return max(6 << 20, min(wanted if wanted is not None else total // 2, total))


def container_user() -> str:
    """The node's own user when it is not root (so the model files it can
    read, the container can); else the image's unprivileged `agent`."""
    uid = os.getuid()
    return f"{uid}:{os.getgid()}" if uid != 0 else AGENT_USER


def unreadable(files: list[Path], user: str) -> list[Path]:
    """The model files the container's user could not read (checked before a
    container starts, so the operator gets the fix, not a loader's error)."""
    uid, gid = (int(part) for part in user.split(":"))
    denied = []
    for path in files:
        mode = path.stat()
        allowed = 0o004 | (0o040 if mode.st_gid == gid else 0) | (0o400 if mode.st_uid == uid else 0)
        if not mode.st_mode & allowed:
            denied.append(path)
    return denied


def model_target(model_path: Path) -> str:
    """Where the model appears inside the container."""
    return f"{MODEL_MOUNT}/{model_path.name}" if model_path.is_file() else MODEL_MOUNT


def container_request(
    image: str, model_path: Path, socket_dir: Path, gpu: bool, limits: DockerLimits,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The keyword arguments for `client.containers.run`."""
    from docker.types import DeviceRequest

    memory = usable_memory(limits.memory)
    request: dict[str, Any] = {
        "image": image,
        "command": [
            "python",
            "-m",
            "agent.runner",
            "--listen",
            f"{SOCKET_MOUNT}/{SOCKET_NAME}",
            "--idle-exit",
            str(IDLE_EXIT_SECONDS),
        ],  # fmt: skip
        "detach": True,
        "user": container_user(),
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,noexec,nosuid,nodev,size={limits.scratch}"},
        "mem_limit": memory,
        "memswap_limit": memory,  # no swap beyond the limit: over it, the job is killed
        "nano_cpus": int(usable_cpus(limits.cpus) * 1e9),
        "pids_limit": limits.pids,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "environment": {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HOME": "/tmp",
            "MODEL": model_target(model_path),
            **thread_env(usable_cpus(limits.cpus)),
        },  # fmt: skip
        "volumes": {
            str(model_path): {"bind": model_target(model_path), "mode": "ro"},
            str(socket_dir): {"bind": SOCKET_MOUNT, "mode": "rw"},
        },
        "working_dir": "/tmp",
        "labels": {ROLE_LABEL: "agent", **(labels or {})},
    }
    if gpu:
        request["device_requests"] = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    return request
