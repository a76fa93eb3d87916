"""`vcoin`: the one console script. Each subcommand lives in its own module
and registers its arguments here."""

import argparse
import sys
from collections.abc import Callable

from node import cli as node_cli
from tools import bench_cmd

Registrar = Callable[[argparse._SubParsersAction], None]  # type: ignore[type-arg]
SUBCOMMANDS: list[Registrar] = [node_cli.register, bench_cmd.register]


class CliError(Exception):
    """A user-facing failure: printed as one line on stderr, exit status 1."""


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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except CliError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
