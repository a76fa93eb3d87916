"""Executors: where a job's code runs. One interface, two sandboxes.

- `LocalExecutor`: a long-lived `agent.runner` subprocess in its own session
  and private temp dir, with resource limits (no core files, bounded open
  files and file size), a scrubbed environment
  with the model hub switched off, and a wall-clock timeout per job (the
  runner is killed and restarted on expiry), and a resident-memory limit
  (half the machine's memory by default; the runner is killed above it). It has no network isolation:
  run untrusted models with Docker.
- `DockerExecutor` (in `agent.docker_executor`): warm containers of the
  agent image, one per model, GPU-enabled, no network, read-only root,
  tmpfs scratch, limits.
"""

import contextlib
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agent.canonical import decode, encode
from agent.job import JobSpec
from agent.threads import thread_env

SAFE_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "CUDA_VISIBLE_DEVICES",
    "LD_LIBRARY_PATH",
    "CUDA_HOME",
    "NVIDIA_VISIBLE_DEVICES",
)


MEMORY_POLL_SECONDS = 0.25
MAX_ANSWER = 512 * 1024 * 1024  # as large as a request may be (agent.runner.MAX_REQUEST)


def resident_bytes(pid: int) -> int:
    """The process's resident set (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def default_memory_limit() -> int:
    """Half of this machine's memory: a job may not starve the node beside it."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (OSError, ValueError):
        return 8 << 30


class ExecutorError(Exception):
    """The job could not be run (timeout, crash, bad output)."""


class SandboxLost(ExecutorError):
    """The sandbox failed, not the job: its container was killed from outside
    or the daemon is gone. The same job may well run on the next try."""


@dataclass(frozen=True)
class Execution:
    encoded: bytes  # canonical result bytes
    hash: bytes
    seconds: float  # inside the sandbox, model load included on first use


@dataclass(frozen=True)
class Check:
    match: bool
    reason: str
    seconds: float


OnPiece = Callable[[str], None]  # text a streaming job (inference) adds, as it generates


class Executor(Protocol):
    name: str

    def run(
        self, spec: JobSpec, model_path: Path, timeout: float, on_piece: OnPiece | None = None
    ) -> Execution:
        """`on_piece`, when given, is called from this thread with each piece of
        a streaming kind's text as it is generated, before the result."""
        ...

    def verify(self, spec: JobSpec, model_path: Path, claimed: bytes, timeout: float) -> Check: ...

    def close(self) -> None: ...


def request_of(
    spec: JobSpec, model_path: Path, device: str | None, claimed: bytes | None = None, stream: bool = False
) -> dict[str, Any]:
    return {"kind": spec.kind, "model_path": str(model_path), "input": spec.input,
            "options": dict(spec.options), "device": device, "claimed": claimed, "stream": stream,
            "rendezvous": spec.rendezvous, "resume": spec.resume, "peers": spec.peers}  # fmt: skip


def piece_of(frame: Any) -> str | None:
    """The text of a streamed piece frame, None for any other frame."""
    if isinstance(frame, dict) and "ok" not in frame and isinstance(frame.get("piece"), str):
        return str(frame["piece"])
    return None


def _ok(response: Any) -> dict[str, Any]:
    if not isinstance(response, dict) or not response.get("ok"):
        error = response.get("error") if isinstance(response, dict) else "malformed response"
        raise ExecutorError(f"the job failed in the sandbox: {error}")
    return response


def execution_of(response: Any) -> Execution:
    answer = _ok(response)
    try:
        return Execution(bytes(answer["result"]), bytes(answer["hash"]), int(answer["micros"]) / 1e6)
    except (KeyError, TypeError, ValueError) as exc:
        raise ExecutorError(f"the sandbox answered a malformed result: {exc!r}") from None


def check_of(response: Any) -> Check:
    answer = _ok(response)
    try:
        return Check(bool(answer["match"]), str(answer["reason"]), int(answer["micros"]) / 1e6)
    except (KeyError, TypeError, ValueError) as exc:
        raise ExecutorError(f"the sandbox answered a malformed check: {exc!r}") from None


def forward(on_piece: OnPiece | None, piece: str) -> OnPiece | None:
    """Hand a piece on; a receiver that fails gets no more (the job's frames
    are still read to its end, so the runner stays in step)."""
    if on_piece is None:
        return None
    try:
        on_piece(piece)
    except Exception:
        return None
    return on_piece


def decoded(frame: bytes) -> Any:
    try:
        return decode(frame)
    except Exception:
        return None  # the caller decodes it again and says why


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 30, 8 << 30))


class LocalExecutor:
    name = "local"

    def __init__(
        self, device: str | None = None, memory_bytes: int | None = None, log: Path | None = None
    ) -> None:
        self.device = device
        self.memory_bytes = memory_bytes or default_memory_limit()
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.scratch: Path | None = None
        self.starts = 0

    @property
    def restarts(self) -> int:
        """Runners started after the first (it died, was killed, or ran past a limit): the node's metrics."""
        return max(self.starts - 1, 0)

    def _start(self) -> subprocess.Popen[bytes]:
        self.scratch = Path(tempfile.mkdtemp(prefix="vcoin-job-"))
        os.chmod(self.scratch, 0o700)
        env = {k: v for k, v in os.environ.items() if k in SAFE_ENV}
        env.update(
            HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TMPDIR=str(self.scratch), PYTHONUNBUFFERED="1"
        )
        env.update(thread_env())
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                           env.get("PYTHONPATH")]))  # fmt: skip
        stderr = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent.runner"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=stderr, cwd=self.scratch, env=env, start_new_session=True,
            preexec_fn=_limits,
        )  # fmt: skip
        self.starts += 1
        return self.proc

    def run(
        self, spec: JobSpec, model_path: Path, timeout: float, on_piece: OnPiece | None = None
    ) -> Execution:
        request = request_of(spec, model_path, self.device, stream=on_piece is not None)
        return execution_of(self._call(request, timeout, on_piece))

    def verify(self, spec: JobSpec, model_path: Path, claimed: bytes, timeout: float) -> Check:
        return check_of(self._call(request_of(spec, model_path, self.device, claimed), timeout))

    def _call(self, request: dict[str, Any], timeout: float, on_piece: OnPiece | None = None) -> Any:
        try:  # an input the sandbox cannot even receive is the job's fault, not the node's
            payload = encode(request)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ExecutorError(f"the job cannot be sent to the sandbox: {exc}") from None
        try:
            proc = self.proc if self.proc is not None and self.proc.poll() is None else self._start()
        except OSError as exc:
            raise ExecutorError(f"the sandbox could not start: {exc}") from None
        assert proc.stdin is not None and proc.stdout is not None
        deadline = time.monotonic() + timeout
        try:
            proc.stdin.write(len(payload).to_bytes(4, "big") + payload)
            proc.stdin.flush()
            streaming = bool(request.get("stream"))
            while True:
                response = self._read(proc, deadline)
                piece = piece_of(decoded(response)) if streaming else None
                if piece is None:
                    break
                on_piece = forward(on_piece, piece)
        except ExecutorError:
            self.close()
            raise
        except TimeoutError:
            self.close()
            raise ExecutorError(f"the job ran past its {timeout:.0f} s limit and was killed") from None
        except OSError as exc:
            self.close()
            raise ExecutorError(f"the sandbox could not be reached: {exc}") from None
        try:
            return decode(response)
        except Exception as exc:
            self.close()
            raise ExecutorError(f"the sandbox answered undecodable bytes: {exc!r}") from None

    def _read(self, proc: subprocess.Popen[bytes], deadline: float) -> bytes:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        data = bytearray()  # appended in place: a large result in small reads stays linear
        want = 4
        size: int | None = None
        # poll, not select.select: a node with many sockets open has descriptors past 1,024
        readable = select.poll()
        readable.register(fd, select.POLLIN)
        while len(data) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if not readable.poll(min(left, MEMORY_POLL_SECONDS) * 1000):
                self._check_memory(proc)
                continue
            chunk = os.read(fd, want - len(data))
            if not chunk:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=2)
                status = proc.poll()
                # Killed from outside (an operator, the system): not the job's doing.
                lost = SandboxLost if status == -signal.SIGKILL else ExecutorError
                raise lost(f"the sandbox exited (status {status})")
            data += chunk
            if size is None and len(data) == 4:
                size = int.from_bytes(data, "big")
                if size > MAX_ANSWER:  # a runner cannot make its node allocate what it likes
                    raise ExecutorError(f"the sandbox announced a {size >> 20} MiB answer, over the limit")
                want, data = size, bytearray()
        return bytes(data)

    def _check_memory(self, proc: subprocess.Popen[bytes]) -> None:
        """Resident memory, not address space, is what a job can exhaust: an
        address-space limit would also break CUDA, which reserves far more."""
        used = resident_bytes(proc.pid)
        if self.memory_bytes and used > self.memory_bytes:
            raise ExecutorError(
                f"the job used {used >> 20} MiB, over the sandbox's {self.memory_bytes >> 20} MiB, and was killed"
            )

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None
