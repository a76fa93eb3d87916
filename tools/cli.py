"""`vcoin`: the one console script. Each subcommand lives in its own module
and registers its arguments here."""

import argparse
import sys
from collections.abc import Callable

from node import cli as node_cli
from node import gc_tuning
from node.keystore import KeystoreError
from tools import (
    api_key_cmd,
    bench_cmd,
    gov_cmd,
    job_cmd,
    model_cmd,
    provider_cmd,
    query_cmd,
    session_cmd,
    testnet_cmd,
    tx_cmd,
    wallet_cmd,
)
from tools.client import NodeUnreachable, RpcFailure
from tools.common import CliError

Registrar = Callable[[argparse._SubParsersAction], None]  # type: ignore[type-arg]
SUBCOMMANDS: list[Registrar] = [
    node_cli.register,
    wallet_cmd.register,
    tx_cmd.register,
    gov_cmd.register,
    job_cmd.register,
    model_cmd.register,
    provider_cmd.register,
    session_cmd.register,
    api_key_cmd.register,
    query_cmd.register,
    bench_cmd.register,
    testnet_cmd.register,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vcoin",
        description="VCoin: a proof-of-stake chain that is a market for GPU compute.",
    )
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    subcommands.required = True
    for register in SUBCOMMANDS:
        register(subcommands)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # a process of its own (the console script, `python -m`), not a caller's
        gc_tuning.tune()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except (CliError, KeystoreError, NodeUnreachable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except RpcFailure as err:
        print(f"error: the node answered: {err.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
