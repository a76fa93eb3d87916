"""Node processes started by tools (testnet, network benchmark): spawn with
a log file, wait for RPC, stop them all in order."""

import os
import signal
import subprocess
import time
from pathlib import Path

from tools.client import NodeUnreachable, RpcFailure, VcoinClient


def spawn(command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # Ctrl-C reaches only us; we stop the nodes in order
    )  # fmt: skip


def wait_rpc(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> VcoinClient:
    client = VcoinClient(url, timeout=5.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"a node exited with status {proc.returncode}")
        try:
            client.call("system_health")
            return VcoinClient(url, timeout=30.0)  # a node under a flood may answer slowly, not never
        except (NodeUnreachable, RpcFailure):
            time.sleep(0.1)
    raise TimeoutError(f"no RPC at {url} after {timeout:.0f} s")


def stop_all(procs: list[subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
