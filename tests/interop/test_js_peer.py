"""A peer of another libp2p implementation joins a dev node: js-libp2p 3.x
(jspeer/peer.mjs) dials it over TCP with noise and yamux, runs identify,
subscribes to the block gossip topic over gossipsub and decodes the blocks it
receives, hashing each header itself with BLAKE2b-256. The node must look to
it like any libp2p peer, and its blocks must read the same in JavaScript.

`setup.sh` installs Node.js >= 22 and the peer's packages when missing (CI
runs it first); the test skips only when that cannot be done here.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.nodeproc import NodeProcess

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
JSPEER = HERE / "jspeer"
HEADS = 3  # blocks that each move the JS peer's head: at least two arrive live
PEER_TIMEOUT = 180  # seconds, the JS side's own deadline (a loaded 2-core box)


def _node_major(binary: str) -> int:
    try:
        out = subprocess.run(
            [binary, "-p", "process.versions.node.split('.')[0]"],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        return int(out.stdout.strip())
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return 0


def _node_binary() -> str | None:
    """Node.js >= 22: the one setup.sh fetched, else the one on PATH."""
    for candidate in (str(JSPEER / ".node" / "bin" / "node"), shutil.which("node")):
        if candidate and os.access(candidate, os.X_OK) and _node_major(candidate) >= 22:
            return candidate
    return None


@pytest.fixture(scope="module")
def node_binary() -> str:
    setup = subprocess.run(
        [str(HERE / "setup.sh")], capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    binary = _node_binary()
    if setup.returncode == 0 and binary is not None and (JSPEER / "node_modules" / "libp2p").is_dir():
        return binary
    why = f"js-libp2p peer unavailable (setup.sh exit {setup.returncode}):\n{setup.stderr[-2000:]}"
    if os.environ.get("VCOIN_INTEROP_REQUIRED") == "1":
        pytest.fail(why)
    pytest.skip(why)


def _dialable(addresses: list[str]) -> str:
    with_id = [a for a in addresses if re.fullmatch(r"/ip4/[0-9.]+/tcp/\d+/p2p/\w+", a)]
    assert with_id, f"no TCP address with a peer id among {addresses}"
    return next((a for a in with_id if a.startswith("/ip4/127.0.0.1/")), with_id[0])


def _events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_js_libp2p_peer_identifies_the_node_and_decodes_gossiped_blocks(
    node_binary: str, dev_node: NodeProcess
) -> None:
    genesis = dev_node.rpc("chain_getBlockHash", 0)
    prefix = f"/vcoin/{genesis.removeprefix('0x')[:16]}"
    topic = f"{prefix}/blocks/1"
    address = _dialable(dev_node.rpc("system_localListenAddresses"))
    node_id = address.split("/p2p/")[1]

    run = subprocess.run(
        [node_binary, "peer.mjs", address, topic, str(HEADS), str(PEER_TIMEOUT)],
        capture_output=True, text=True, timeout=PEER_TIMEOUT + 60, cwd=JSPEER, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    report = f"exit {run.returncode}\nstdout:\n{run.stdout[-6000:]}\nstderr:\n{run.stderr[-3000:]}"
    assert run.returncode == 0, report
    events = _events(run.stdout)
    kinds = [e["event"] for e in events]
    assert "bad-message" not in kinds and "bad-block" not in kinds and "error" not in kinds, report

    (connected,) = [e for e in events if e["event"] == "connected"]
    assert connected["peer"] == node_id
    assert connected["encryption"] == "/noise" and connected["multiplexer"] == "/yamux/1.0.0", report

    identified = [e for e in events if e["event"] == "identify"]
    assert identified, report
    identify = identified[0]
    assert identify["peer"] == node_id
    assert identify["agentVersion"], report
    # The node's own sync protocol (its version may move on), and gossipsub.
    assert any(re.fullmatch(f"{prefix}/sync/[0-9]+", p) for p in identify["protocols"]), report
    assert "/meshsub/1.1.0" in identify["protocols"], report

    blocks = [e for e in events if e["event"] == "block"]
    assert len(blocks) >= 2, report
    heads = [b["number"] for b in blocks if b["head"]]
    assert len(heads) >= HEADS and heads == sorted(set(heads)), report
    for block in blocks:
        assert block["canonical"] and block["sealed"], block
        assert block["from"] == node_id, block
        number = block["number"]
        assert number >= 1
        assert block["hash"] == dev_node.rpc("chain_getBlockHash", number), block
        assert block["parentHash"] == dev_node.rpc("chain_getBlockHash", number - 1), block
