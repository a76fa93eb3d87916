"""Executors: where a job's code runs. One interface, two sandboxes.

- `LocalExecutor`: a long-lived `agent.runner` subprocess in its own session
  and private temp dir, with resource limits (no core files, bounded open
  files and file size, optional address-space cap), a scrubbed environment
  with the model hub switched off, and a wall-clock timeout per job (the
  runner is killed and restarted on expiry). It has no network isolation:
  run untrusted models with Docker.
- `DockerExecutor` (in `agent.docker_executor`): one container per job,
  GPU-enabled, no network, read-only root, tmpfs scratch, limits.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agent.canonical import decode, encode
from agent.job import JobSpec

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


class ExecutorError(Exception):
    """The job could not be run (timeout, crash, bad output)."""


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


class Executor(Protocol):
    name: str

    def run(self, spec: JobSpec, model_path: Path, timeout: float) -> Execution: ...

    def verify(self, spec: JobSpec, model_path: Path, claimed: bytes, timeout: float) -> Check: ...

    def close(self) -> None: ...


def request_of(
    spec: JobSpec, model_path: Path, device: str | None, claimed: bytes | None = None
) -> dict[str, Any]:
    return {"kind": spec.kind, "model_path": str(model_path), "input": spec.input,
            "options": dict(spec.options), "device": device, "claimed": claimed}  # fmt: skip


def _ok(response: Any) -> dict[str, Any]:
    if not isinstance(response, dict) or not response.get("ok"):
        error = response.get("error") if isinstance(response, dict) else "malformed response"
        raise ExecutorError(f"the job failed in the sandbox: {error}")
    return response


def execution_of(response: Any) -> Execution:
    answer = _ok(response)
    return Execution(bytes(answer["result"]), bytes(answer["hash"]), answer["micros"] / 1e6)


def check_of(response: Any) -> Check:
    answer = _ok(response)
    return Check(bool(answer["match"]), str(answer["reason"]), answer["micros"] / 1e6)


def _limits(memory_bytes: int | None) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
        resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 30, 8 << 30))
        if memory_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return apply


class LocalExecutor:
    name = "local"

    def __init__(
        self, device: str | None = None, memory_bytes: int | None = None, log: Path | None = None
    ) -> None:
        self.device = device
        self.memory_bytes = memory_bytes
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.scratch: Path | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        self.scratch = Path(tempfile.mkdtemp(prefix="vcoin-job-"))
        os.chmod(self.scratch, 0o700)
        env = {k: v for k, v in os.environ.items() if k in SAFE_ENV}
        env.update(
            HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TMPDIR=str(self.scratch), PYTHONUNBUFFERED="1"
        )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                           env.get("PYTHONPATH")]))  # fmt: skip
        stderr = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent.runner"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=stderr, cwd=self.scratch, env=env, start_new_session=True,
            preexec_fn=_limits(self.memory_bytes),
        )  # fmt: skip
        return self.proc

    def run(self, spec: JobSpec, model_path: Path, timeout: float) -> Execution:
        return execution_of(self._call(request_of(spec, model_path, self.device), timeout))

    def verify(self, spec: JobSpec, model_path: Path, claimed: bytes, timeout: float) -> Check:
        return check_of(self._call(request_of(spec, model_path, self.device, claimed), timeout))

    def _call(self, request: dict[str, Any], timeout: float) -> Any:
        proc = self.proc if self.proc is not None and self.proc.poll() is None else self._start()
        assert proc.stdin is not None and proc.stdout is not None
        payload = encode(request)
        try:
            proc.stdin.write(len(payload).to_bytes(4, "big") + payload)
            proc.stdin.flush()
            response = self._read(proc, time.monotonic() + timeout)
        except (BrokenPipeError, ExecutorError):
            self.close()
            raise
        except TimeoutError:
            self.close()
            raise ExecutorError(f"the job ran past its {timeout:.0f} s limit and was killed") from None
        return decode(response)

    def _read(self, proc: subprocess.Popen[bytes], deadline: float) -> bytes:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        data = b""
        want = 4
        size: int | None = None
        while len(data) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, want - len(data))
            if not chunk:
                raise ExecutorError(f"the sandbox exited (status {proc.poll()})")
            data += chunk
            if size is None and len(data) == 4:
                size = int.from_bytes(data, "big")
                want, data = size, b""
        return data

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None
