"""Sign, submit, wait for inclusion and report one call: shared by `vcoin tx`
and `vcoin gov`."""

import argparse
from typing import Any

from runtime.crypto import Keypair
from tools.client import RpcFailure, WaitTimeout
from tools.common import CliError, client_of, emit, print_pairs, spinner


def add_submit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-wait", action="store_true", help="print the hash and return at once")
    parser.add_argument("--tip", default="0", help="tip for the block author, in VCoin")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for inclusion")


def submit_call(
    args: argparse.Namespace,
    key: Keypair,
    pallet: str,
    name: str,
    call_args: dict[str, Any],
    tip: int = 0,
) -> int:
    client = client_of(args)
    try:
        tx_hash = client.submit_call(key, pallet, name, call_args, tip)
    except RpcFailure as err:
        raise CliError(f"the node refused the transaction: {err.message}") from None
    if args.no_wait:
        emit(args, {"hash": tx_hash, "status": "submitted"}, lambda: print(tx_hash))
        return 0
    with spinner(args, f"waiting for {pallet}.{name} ({tx_hash[:12]}…) to be included"):
        try:
            status = client.wait(tx_hash, timeout=args.timeout)
        except WaitTimeout as exc:
            raise CliError(f"transaction {tx_hash}: {exc}") from None
    result = {"hash": tx_hash, **status}

    def table() -> None:
        rows = [
            ("extrinsic", tx_hash),
            ("call", f"{pallet}.{name}"),
            ("block", f"#{status['blockNumber']} {status['blockHash']}"),
            ("status", status["status"]),
            ("result", "success" if status["success"] else f"failed: {status['error']}"),
        ]
        rows += [("event", f"{e['pallet']}.{e['name']}") for e in status["events"] if e["pallet"] != "system"]
        print_pairs("Transaction", rows)

    emit(args, result, table)
    if not status["success"]:
        detail = f" ({status['detail']})" if status.get("detail") else ""
        raise CliError(f"transaction failed on chain: {status['error']}{detail}")
    return 0
