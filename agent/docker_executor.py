"""`DockerExecutor`: the production sandbox, warm containers of the agent
image (their shape: `agent.docker_spec`).

A container per model stays up between jobs, so only its first job pays
for loading the model. A job past its wall-clock limit, or one that takes
its container down (out of memory, killed), costs that container: it is
removed and the next job starts a fresh one. Whatever the daemon does, a
caller sees `ExecutorError` with the cause, never another exception.
"""

import contextlib
import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent import runner_socket
from agent.canonical import decode, encode
from agent.docker_spec import (
    CPU_IMAGE,
    CUDA_IMAGE,
    MODEL_LABEL,
    OWNER_LABEL,
    ROLE_LABEL,
    SOCKET_LABEL,
    SOCKET_MOUNT,
    SOCKET_NAME,
    DockerLimits,
    container_request,
    container_user,
    model_target,
    unreadable,
)
from agent.executor import (
    Check,
    Execution,
    ExecutorError,
    OnPiece,
    SandboxLost,
    check_of,
    execution_of,
    request_of,
)
from agent.job import JobSpec, Result
from agent.models import model_files, model_hash

log = logging.getLogger("vcoin.agent.docker")

START_SECONDS = 120.0  # a container's runner listening, model not loaded yet
STOP_SECONDS = 10.0  # a container whose runner's socket broke: the daemon's word on why
MAX_WARM = 2  # containers kept at once; the least recently used goes first
SOCKET_DIR_PREFIX = "vcoin-agent-"
FAILURE_BACKOFF = (2.0, 60.0)  # after a container failed to start: first and longest wait


def default_image(gpu: bool) -> str:
    return CUDA_IMAGE if gpu else CPU_IMAGE


def owner() -> str:
    """Which node process a container belongs to (host and pid), so a node
    removes what an earlier, killed one left behind, and nothing of others."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WarmContainer:
    """One running container and the connection to its runner."""

    def __init__(self, client: Any, request: dict[str, Any], socket_dir: Path) -> None:
        self.socket_dir = socket_dir
        self.started = time.monotonic()
        self.container = client.containers.run(**request)
        self.conn: socket.socket | None = None

    def connect(self, deadline: float) -> socket.socket:
        if self.conn is None:
            self.conn = runner_socket.connect(self.socket_dir / SOCKET_NAME, deadline, self._check_started)
        return self.conn

    def _check_started(self) -> None:
        self.container.reload()
        if self.container.status not in ("created", "running"):
            oom, cause = self.cause()
            raise (ExecutorError if oom else SandboxLost)(f"the container exited while starting: {cause}")

    def exchange(self, payload: bytes, deadline: float, on_piece: OnPiece | None = None,
                 streaming: bool = False) -> bytes:  # fmt: skip
        conn = self.connect(min(deadline, time.monotonic() + START_SECONDS))
        return runner_socket.exchange(conn, payload, deadline, on_piece, streaming)

    def running(self) -> bool:
        try:
            self.container.reload()
        except Exception:
            return False
        return bool(self.container.status == "running")

    def cause(self) -> tuple[bool, str]:
        """Whether the container ran out of memory, and why it stopped, in the daemon's words."""
        with contextlib.suppress(Exception):
            with contextlib.suppress(Exception):  # its socket closes a moment before the daemon sees it exit
                self.container.wait(timeout=STOP_SECONDS)
            self.container.reload()
            state = self.container.attrs.get("State", {})
            if state.get("OOMKilled"):
                limit = self.container.attrs.get("HostConfig", {}).get("Memory", 0)
                return True, f"the job used more than the container's {limit >> 20} MiB and was killed"
            tail = self.container.logs(tail=3).decode(errors="replace").strip().replace("\n", " / ")
            return False, f"status {state.get('Status')}, exit code {state.get('ExitCode')}: {tail[-300:]}"
        return False, "the daemon did not say"

    def remove(self) -> None:
        if self.conn is not None:
            self.conn.close()
        with contextlib.suppress(Exception):
            self.container.remove(force=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)


class DockerExecutor:
    name = "docker"

    def __init__(
        self, image: str | None = None, gpu: bool = True, limits: DockerLimits | None = None
    ) -> None:
        import docker

        self.client = docker.from_env()
        self.client.ping()  # fail now, not on the first job, when no daemon answers
        self.image, self.gpu, self.limits = image or default_image(gpu), gpu, limits or DockerLimits()
        self.owner = owner()
        self.warm: dict[Path, WarmContainer] = {}
        self.hashes: dict[Path, str] = {}
        self.lock = threading.RLock()  # a group member's run holds it around the job's own call
        self.failures = 0
        self.retry_at = 0.0
        self.served: set[Path] = set()  # models that had a container: a new one for them is a restart
        self.restarts = 0  # read by the node's metrics
        self.remove_orphans()

    def has_image(self) -> bool:
        try:
            self.client.images.get(self.image)
        except Exception:
            return False
        return True

    def remove_orphans(self) -> None:
        """Agent containers of node processes on this host that are gone."""
        host = socket.gethostname()
        with contextlib.suppress(Exception):
            for container in self.client.containers.list(all=True, filters={"label": f"{ROLE_LABEL}=agent"}):
                label = container.labels.get(OWNER_LABEL, "")
                name, _, pid = label.rpartition(":")
                if name == host and pid.isdigit() and not _alive(int(pid)):
                    container.remove(force=True)
                    socket_dir = container.labels.get(SOCKET_LABEL, "")
                    if Path(socket_dir).name.startswith(SOCKET_DIR_PREFIX):
                        shutil.rmtree(socket_dir, ignore_errors=True)

    def run(
        self, spec: JobSpec, model_path: Path, timeout: float, on_piece: OnPiece | None = None
    ) -> Execution:
        if spec.rendezvous:
            return self._run_member(spec, model_path, timeout)
        request = request_of(spec, Path(model_target(model_path)), None, stream=on_piece is not None)
        return execution_of(self._call(model_path, request, timeout, on_piece))

    def _run_member(self, spec: JobSpec, model_path: Path, timeout: float) -> Execution:
        """A member of a job spread over providers. Its container keeps no
        network: the runner reaches the group through a Unix socket in the
        container's socket folder, which a relay here joins to the one
        address the chain named (`agent.diloco_group.outside_bridge`)."""
        from agent.diloco_group import outside_bridge
        from agent.diloco_progress import Progress

        with self.lock:
            warm = self._container(model_path.resolve())
            name = f"group-{secrets.token_hex(6)}.sock"
            try:
                bridge = outside_bridge(
                    spec.options.get("member", 0), spec.rendezvous, str(warm.socket_dir / name)
                )
            except (
                OSError,
                ValueError,
            ) as exc:  # as the runner does when the group cannot form: try again later
                log.warning("the group's rendezvous %s cannot be bridged: %s", spec.rendezvous, exc)
                resume = decode(spec.resume) if spec.resume else None
                result = Result.of(Progress.of(resume).partial_payload())
                return Execution(result.encoded, result.hash, 0.0)
            try:
                inside = replace(spec, rendezvous=f"unix:{SOCKET_MOUNT}/{name}")
                request = request_of(inside, Path(model_target(model_path)), None)
                return execution_of(self._call(model_path, request, timeout))
            finally:
                bridge.close()
                with contextlib.suppress(OSError):
                    (warm.socket_dir / name).unlink()

    def verify(self, spec: JobSpec, model_path: Path, claimed: bytes, timeout: float) -> Check:
        request = request_of(spec, Path(model_target(model_path)), None, claimed)
        return check_of(self._call(model_path, request, timeout))

    def _call(
        self, model_path: Path, request: dict[str, Any], timeout: float, on_piece: OnPiece | None = None
    ) -> Any:
        try:  # an input the sandbox cannot even receive is the job's fault, not the node's
            payload = encode(request)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ExecutorError(f"the job cannot be sent to the sandbox: {exc}") from None
        with self.lock:
            deadline = time.monotonic() + timeout
            warm = self._container(model_path.resolve())
            try:
                answer = warm.exchange(payload, deadline, on_piece, bool(request.get("stream")))
            except TimeoutError:
                self._drop(model_path.resolve())
                raise ExecutorError(
                    f"the job ran past its {timeout:.0f} s limit; its container was killed"
                ) from None
            except ExecutorError:
                self._drop(model_path.resolve())
                raise
            except Exception as exc:  # the socket broke, or the daemon failed us: the container goes
                oom, cause = warm.cause()
                self._drop(model_path.resolve())
                error = ExecutorError if oom else SandboxLost  # out of memory is the job's own doing
                raise error(f"the container stopped during the job ({type(exc).__name__}): {cause}") from None
        try:
            return decode(answer)
        except Exception as exc:
            raise ExecutorError(f"the sandbox answered undecodable bytes: {exc!r}") from None

    def _container(self, model_path: Path) -> WarmContainer:
        warm = self.warm.pop(model_path, None)
        if warm is not None and warm.running():
            self.warm[model_path] = warm  # most recently used last
            return warm
        if warm is not None:  # killed or gone between jobs: this job gets a fresh one
            warm.remove()
        if time.monotonic() < self.retry_at:
            raise SandboxLost(f"Docker is backing off after {self.failures} failed container start(s)")
        while len(self.warm) >= MAX_WARM:
            self._drop(next(iter(self.warm)))
        socket_dir = Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX))
        os.chmod(socket_dir, 0o777)  # the container's user makes its socket here; the folder is unlisted
        try:
            if model_path not in self.hashes:
                denied = unreadable(model_files(model_path), container_user())
                if denied:
                    raise PermissionError(
                        f"{denied[0]} (and {len(denied) - 1} more) cannot be read by the container's user "
                        f"{container_user()}: make the model's files readable (chmod -R a+rX {model_path})"
                    )
                self.hashes[model_path] = model_hash(model_path).hex()
            labels = {
                MODEL_LABEL: self.hashes[model_path],
                OWNER_LABEL: self.owner,
                SOCKET_LABEL: str(socket_dir),
            }
            warm = WarmContainer(
                self.client, container_request(self.image, model_path, socket_dir, self.gpu, self.limits, labels),
                socket_dir,
            )  # fmt: skip
        except Exception as exc:
            shutil.rmtree(socket_dir, ignore_errors=True)
            self.failures += 1
            first, longest = FAILURE_BACKOFF
            self.retry_at = time.monotonic() + min(first * 2 ** (self.failures - 1), longest)
            error = ExecutorError if isinstance(exc, PermissionError) else SandboxLost
            raise error(f"Docker could not start a container: {type(exc).__name__}: {exc}") from None
        self.failures = 0
        self.restarts += model_path in self.served
        self.served.add(model_path)
        self.warm[model_path] = warm
        return warm

    def _drop(self, model_path: Path) -> None:
        warm = self.warm.pop(model_path, None)
        if warm is not None:
            warm.remove()

    def close(self) -> None:
        with self.lock:
            for path in list(self.warm):
                self._drop(path)
        with contextlib.suppress(Exception):
            self.client.close()
