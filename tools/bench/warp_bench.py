"""`vcoin bench warp`: a serving node holds a chain whose state has
`accounts` extra accounts (default 1,000,000: tools.bench.warp_chain); a
fresh node started with `--sync warp` fetches that state and follows the
head. Reported: seconds until the state is downloaded and proven (from the
fresh node's start), seconds until it follows the head (its best block is
the server's, past the warp block), bytes received, keys/s, and `ratio` =
the goal (120 s) ÷ the seconds to follow (≥ 1 meets the goal).
"""

import re
import tempfile
import time
from pathlib import Path
from typing import Any

from tools.bench.warp_chain import build_chain, warp_spec
from tools.client import VcoinClient
from tools.procs import spawn, stop_all, wait_rpc
from tools.testnet import plan_node

GOAL_SECONDS = 120.0
BLOCKS = 20
_COMPLETE = re.compile(
    r"the state of #(\d+) is complete: (\d+) keys fetched, ([\d.]+) MiB in (\d+) chunks \(([\d.]+) MiB received"
)
_WARPED = re.compile(r"Warp sync: #(\d+) \S+ is best and finalized")


def run(accounts: int = 1_000_000, timeout: float = 1_200.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vcoin-bench-warp-") as tmp:
        root = Path(tmp)
        spec = warp_spec()
        spec_path = root / "spec.json"
        spec_path.write_text(spec.to_json())
        started = time.monotonic()
        build_chain(root / "server", spec, accounts, BLOCKS)
        build_seconds = time.monotonic() - started
        return {"name": "warp", "accounts": accounts, "build_seconds": round(build_seconds, 1),
                **_measure(root, spec_path, timeout)}  # fmt: skip


def _measure(root: Path, spec_path: Path, timeout: float) -> dict[str, Any]:
    server = plan_node(root / "server", "server", key="//alice")
    fresh = plan_node(root / "fresh", "fresh")
    procs = [spawn(server.command(spec_path, []), root / "server.log")]
    try:
        source = wait_rpc(server.rpc_url, procs[0], timeout=600)
        _wait(lambda: source.call("system_health")["finalizedNumber"] >= BLOCKS, 120, "server finality")
        log_path = root / "fresh.log"
        started = time.monotonic()
        procs.append(spawn([*fresh.command(spec_path, [server.multiaddr]), "--sync", "warp"], log_path))
        client = wait_rpc(fresh.rpc_url, procs[1])
        deadline = started + timeout
        complete = _wait_log(log_path, _COMPLETE, deadline)
        state_seconds = time.monotonic() - started
        warped = int(_wait_log(log_path, _WARPED, deadline).group(1))
        _wait(lambda: _follows(client, source, warped), deadline - time.monotonic(), "following the head")
        follow_seconds = time.monotonic() - started
    finally:
        stop_all(procs)
    keys = int(complete.group(2))
    return {
        "warp_block": warped, "keys": keys, "chunks": int(complete.group(4)),
        "state_mib": float(complete.group(3)), "received_mib": float(complete.group(5)),
        "state_download_seconds": round(state_seconds, 2), "follow_seconds": round(follow_seconds, 2),
        "keys_per_s": round(keys / state_seconds), "goal_seconds": GOAL_SECONDS,
        "ratio": round(GOAL_SECONDS / follow_seconds, 3),
    }  # fmt: skip


def _follows(client: VcoinClient, source: VcoinClient, warped: int) -> bool:
    best = int(client.call("system_health")["bestNumber"])
    return best > warped and client.call("chain_getBlockHash", best) == source.call(
        "chain_getBlockHash", best
    )


def _wait_log(path: Path, pattern: re.Pattern[str], deadline: float) -> re.Match[str]:
    while time.monotonic() < deadline:
        found = pattern.search(path.read_text(errors="replace"))
        if found is not None:
            return found
        time.sleep(0.1)
    raise TimeoutError(f"no {pattern.pattern!r} in {path.name}")


def _wait(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)
