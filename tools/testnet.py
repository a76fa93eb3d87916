"""A local testnet on 127.0.0.1: a chain spec with N validator keys, one
base path, node key and set of free ports per node, and the `vcoin node`
command line that starts each. Node keys are created up front so every node
gets every other's full bootnode address before any of them starts."""

import os
import random
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from genesis.spec import testnet_key_names, testnet_spec
from node.p2p import load_node_key, peer_id_of

# Below Linux's ephemeral range (32768-60999), so outgoing connections of
# already-running nodes cannot take a port between planning and binding.
PORT_RANGE = (20_000, 32_000)


_draw = random.SystemRandom()  # never the (test-seeded) global generator
_handed_out: set[int] = set()


def _port_range() -> tuple[int, int]:
    """PORT_RANGE, or `VCOIN_PORT_RANGE=LO-HI`: processes handing out ports
    side by side (scripts/test.sh's two halves) each take their own range,
    so neither hands out a port the other's node is about to bind."""
    lo, _, hi = os.environ.get("VCOIN_PORT_RANGE", "").partition("-")
    if lo.isdigit() and hi.isdigit() and 1024 <= int(lo) < int(hi) <= 65_535:
        return int(lo), int(hi)
    return PORT_RANGE


def free_port() -> int:
    """A bindable port this process has not handed out before."""
    while True:
        port = _draw.randint(*_port_range())
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            _handed_out.add(port)
            return port


@dataclass(frozen=True)
class PlannedNode:
    name: str
    key: str | None  # None: a plain (non-validator) node
    base_path: Path
    rpc_port: int
    prometheus_port: int
    p2p_port: int
    peer_id: str
    worker: bool

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def multiaddr(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.p2p_port}/p2p/{self.peer_id}"

    def command(self, spec_path: Path, bootnodes: list[str], log_level: str = "info") -> list[str]:
        args = [sys.executable, "-m", "tools.cli", "node", "--chain", str(spec_path),
                "--base-path", str(self.base_path),
                "--rpc-port", str(self.rpc_port), "--prometheus-port", str(self.prometheus_port),
                "--port", str(self.p2p_port), "--listen-addr", "127.0.0.1", "--log", log_level]  # fmt: skip
        if self.key is not None:
            args += ["--validator", "--key", self.key]
            if self.key.startswith("//"):  # a throw-away local net: its dev keys are the point
                args.append("--allow-dev-keys")
        if bootnodes:
            args += ["--bootnodes", *bootnodes]
        if self.worker:
            args.append("--worker")
        return args


@dataclass(frozen=True)
class Plan:
    spec_path: Path
    nodes: tuple[PlannedNode, ...]

    def command(self, index: int, log_level: str = "info") -> list[str]:
        node = self.nodes[index]
        others = [n.multiaddr for n in self.nodes if n is not node]
        return node.command(self.spec_path, others, log_level)


def plan_node(base_path: Path, name: str, key: str | None = None, worker: bool = False) -> PlannedNode:
    """Ports and a node key for one node under `base_path`."""
    seed = load_node_key(base_path / "network" / "secret_ed25519")
    return PlannedNode(
        name=name, key=key, base_path=base_path, rpc_port=free_port(), prometheus_port=free_port(),
        p2p_port=free_port(), peer_id=peer_id_of(seed), worker=worker,
    )  # fmt: skip


def plan_testnet(base: Path, validators: int, workers: int = 0, slot_seconds: int = 2, **params: int) -> Plan:
    if not 0 <= workers <= validators:
        raise ValueError("--workers must be between 0 and the number of validators")
    base.mkdir(parents=True, exist_ok=True)
    spec_path = base / "spec.json"
    spec_path.write_text(testnet_spec(validators, slot_seconds, **params).to_json())
    nodes = [
        plan_node(base / f"node-{index + 1}", key.removeprefix("//"), key, worker=index < workers)
        for index, key in enumerate(testnet_key_names(validators))
    ]
    return Plan(spec_path, tuple(nodes))
