"""Real node processes on 127.0.0.1 for integration tests."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genesis.spec import dev_spec
from tools.client import NodeUnreachable, RpcFailure, VcoinClient
from tools.testnet import Plan, free_port

if TYPE_CHECKING:
    from node.service import Node

REPO = Path(__file__).resolve().parents[1]
TEST_STATE_PRUNING = "8"  # finalized states a test node keeps (the default keeps 256)


def fast_dev_spec(path: Path, **params: int) -> Path:
    """The dev spec with 1 s slots and short periods, written as a spec file."""
    spec = dev_spec()
    defaults = {"slot_seconds": 1, "unbonding_period": 6, "voting_period": 4, "enactment_delay": 2}
    spec = replace(spec, params=replace(spec.params, **{**defaults, **params}))
    path.write_text(spec.to_json())
    return path


def vcoin(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO, stdin=subprocess.DEVNULL,
        env=None if env is None else {**os.environ, **env},
    )  # fmt: skip


class NodeProcess:
    def __init__(
        self, base_path: Path, spec_file: Path | None = None, extra: list[str] | None = None, dev: bool = True
    ) -> None:
        self.dev = dev
        self.base_path = base_path
        self.spec_file = spec_file
        self.extra = extra or []
        self.env: dict[str, str] = {}
        self.rpc_port = free_port()
        self.prometheus_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = base_path.parent / f"{base_path.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def client(self) -> VcoinClient:
        return VcoinClient(self.url, timeout=10)

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "tools.cli", "node", "--base-path", str(self.base_path)]
        args += ["--dev"] if self.dev else []
        args += [
            "--rpc-port",
            str(self.rpc_port),
            "--prometheus-port",
            str(self.prometheus_port),
            "--port",
            str(free_port()),
            "--listen-addr",
            "127.0.0.1",
        ]
        if self.spec_file is not None:
            args += ["--chain", str(self.spec_file)]
        if "--state-pruning" not in self.extra:
            # a short window, so the tests' nodes prune as they run: every
            # node test is a test of a pruned node too
            args += ["--state-pruning", TEST_STATE_PRUNING]
        if "--worker" in self.extra and "--packaged-models" not in self.extra:
            # MiniLM only: loading SmolLM2 before going online costs each worker
            # node ~20 s of CPU, and only the tests that name it need it
            args += ["--packaged-models", "all-minilm-l6-v2"]
        return args

    def start(self, wait: bool = True, env: dict[str, str] | None = None) -> "NodeProcess":
        handle = open(self.log, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            self.command() + self.extra,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env, **(env or {})},
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"node exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}"
                )
            try:
                self.client.call("system_health")
                return
            except (NodeUnreachable, RpcFailure):
                time.sleep(0.1)
        raise TimeoutError(f"node not ready:\n{self.log.read_text()[-3000:]}")

    def rpc(self, method: str, *params: Any) -> Any:
        return self.client.call(method, *params)

    def best(self) -> int:
        return int(self.rpc("system_health")["bestNumber"])

    def wait_for_block(self, number: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.best() < number:
            if time.monotonic() > deadline:
                raise TimeoutError(f"block #{number} not reached (best #{self.best()})")
            time.sleep(0.1)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return vcoin(*args, "--rpc-url", self.url)

    def cli_json(self, *args: str) -> Any:
        out = self.cli(*args, "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)


class ValidatorProcess(NodeProcess):
    """One validator of a `tools.testnet` plan, started with the plan's command."""

    def __init__(self, plan: Plan, index: int, extra: list[str] | None = None) -> None:
        node = plan.nodes[index]
        super().__init__(node.base_path, extra=extra, dev=False)
        self.plan, self.index, self.name = plan, index, node.name
        self.rpc_port = node.rpc_port

    def command(self) -> list[str]:
        return self.plan.command(self.index, "info")

    def finalized(self) -> tuple[int, str]:
        block_hash = self.rpc("chain_getFinalizedHead")
        return int(self.rpc("chain_getHeader", block_hash)["number"]), block_hash

    def canonical(self, upto: int) -> dict[int, str]:
        return {n: self.rpc("chain_getBlockHash", n) for n in range(upto + 1)}


def wait_until(predicate: Any, timeout: float, what: str, poll: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(poll)


@contextlib.contextmanager
def in_process_dev_node(base_path: Path) -> Iterator["Node"]:
    """A dev node (//alice authoring) in this process, without network or
    Prometheus, for tests that call its methods directly."""
    from node.service import Node, NodeConfig
    from runtime.crypto import dev_keypair

    config = NodeConfig(spec=dev_spec(), base_path=base_path, dev=True, network=False, prometheus_port=None,
                        validator_key=dev_keypair("//alice"))  # fmt: skip
    node = Node(config)
    try:
        yield node
    finally:
        node.store.close()
