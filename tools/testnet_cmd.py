"""`vcoin testnet --validators N [--workers M]`: a local net on 127.0.0.1.

Writes a chain spec with N validator keys, starts one `vcoin node` process
per validator (logs in BASE/node-K.log), shows a live table of their heads
and peers, and stops them all on Ctrl-C (or after --duration seconds).
"""

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tools.client import VcoinClient
from tools.common import CliError
from tools.procs import spawn, stop_all
from tools.testnet import Plan, PlannedNode, plan_testnet


def _status(node: PlannedNode, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    row: dict[str, Any] = {"node": node.name, "peerId": node.peer_id, "rpc": node.rpc_url}
    if proc.poll() is not None:
        return {**row, "state": f"exited ({proc.returncode})"}
    try:
        health = VcoinClient(node.rpc_url, timeout=1.0).call("system_health")
    except Exception:
        return {**row, "state": "starting"}
    return {
        **row,
        "state": "syncing" if health["isSyncing"] else "running",
        "best": health["bestNumber"],
        "finalized": health["finalizedNumber"],
        "peers": health["peers"],
    }


def _table(rows: list[dict[str, Any]], base: Path) -> Any:
    from rich.table import Table

    table = Table(title=f"vcoin testnet — {base} (Ctrl-C stops all)")
    for column in ("node", "peer id", "state", "best", "finalized", "peers", "RPC"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["node"], row["peerId"][:12] + "…" + row["peerId"][-6:], row["state"],
            str(row.get("best", "-")), str(row.get("finalized", "-")), str(row.get("peers", "-")), row["rpc"],
        )  # fmt: skip
    return table


def _start(plan: Plan, log_level: str) -> list[subprocess.Popen[bytes]]:
    return [
        spawn(plan.command(index, log_level), node.base_path.parent / f"node-{index + 1}.log")
        for index, node in enumerate(plan.nodes)
    ]


def run(args: argparse.Namespace) -> int:
    temp = args.base_path is None
    base = Path(args.base_path or tempfile.mkdtemp(prefix="vcoin-testnet-"))
    try:
        plan = plan_testnet(base, args.validators, args.workers, args.slot_seconds)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    procs = _start(plan, args.log)
    deadline = None if args.duration is None else time.monotonic() + args.duration
    try:
        if args.json:
            _watch_json(plan, procs, deadline)
        else:
            _watch_live(plan, procs, base, deadline)
    except KeyboardInterrupt:
        pass
    finally:
        stop_all(procs)
        if temp and not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


def _watch_live(plan: Plan, procs: list[subprocess.Popen[bytes]], base: Path, deadline: float | None) -> None:
    from rich.live import Live

    with Live(_table([], base), refresh_per_second=2) as live:
        while deadline is None or time.monotonic() < deadline:
            live.update(_table([_status(n, p) for n, p in zip(plan.nodes, procs, strict=True)], base))
            time.sleep(1.0)


def _watch_json(plan: Plan, procs: list[subprocess.Popen[bytes]], deadline: float | None) -> None:
    """One JSON line per second: the status of every node."""
    while deadline is None or time.monotonic() < deadline:
        rows = [_status(n, p) for n, p in zip(plan.nodes, procs, strict=True)]
        print(json.dumps({"time": time.time(), "nodes": rows}), flush=True)
        time.sleep(1.0)


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("testnet", help="run a local multi-validator net", description=__doc__)
    parser.add_argument("--validators", type=int, default=4, help="number of validator nodes (default 4)")
    parser.add_argument("--workers", type=int, default=0, help="how many of them run --worker (default 0)")
    parser.add_argument("--base-path", help="directory for the spec, data and logs (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory on exit")
    parser.add_argument("--slot-seconds", type=int, default=2, help="slot duration (default 2)")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--log", default="info", help="node log level (default info)")
    parser.add_argument("--json", action="store_true", help="print node status as JSON lines")
    parser.set_defaults(handler=run)
