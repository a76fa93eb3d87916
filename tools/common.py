"""What every `vcoin` subcommand shares: RPC and key options, amounts,
account resolution, output as a table or JSON, waiting with a spinner."""

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from node.cli import parse_vc, read_password
from node.keystore import Keystore, KeystoreError, key_address, resolve_key
from runtime.constants import UNIT
from runtime.crypto import AddressError, Keypair, from_address
from tools.client import DEFAULT_RPC_URL, VcoinClient


class CliError(Exception):
    """A user-facing failure: printed as one line on stderr, exit status 1."""


def parse_amount(text: str) -> int:
    """VCoin with up to 9 decimals -> base units."""
    try:
        return parse_vc(text)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def format_vc(base_units: int) -> str:
    sign = "-" if base_units < 0 else ""
    whole, frac = divmod(abs(base_units), UNIT)
    text = f"{whole:,}" + (f".{frac:09d}".rstrip("0") if frac else "")
    return f"{sign}{text} VC"


def default_keystore() -> Path:
    return Path.home() / ".vcoin" / "keystore"


def keystore_of(args: argparse.Namespace) -> Keystore:
    return Keystore(Path(args.keystore) if getattr(args, "keystore", None) else default_keystore())


def signer(args: argparse.Namespace, name: str) -> Keypair:
    try:
        return resolve_key(
            keystore_of(args),
            name,
            lambda: read_password(args.password_file, f"Password for {name}: "),
        )
    except KeystoreError as exc:
        raise CliError(str(exc)) from None


def account_id(args: argparse.Namespace, text: str) -> bytes:
    """A vc1 address, a //dev name, or the name of a keystore entry."""
    if text.startswith("vc1"):
        try:
            return from_address(text)
        except AddressError as exc:
            raise CliError(f"invalid address {text!r}: {exc}") from None
    try:
        return from_address(key_address(keystore_of(args), text))
    except KeystoreError:
        raise CliError(f"unknown account {text!r}: not a vc1 address, //dev name or keystore entry") from None


def add_rpc_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rpc-url", default=DEFAULT_RPC_URL, help=f"node RPC (default {DEFAULT_RPC_URL})")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")


def add_key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keystore", help="keystore directory (default ~/.vcoin/keystore)")
    parser.add_argument("--password-file", help="file holding the keystore password")


def client_of(args: argparse.Namespace) -> VcoinClient:
    return VcoinClient(args.rpc_url)


def emit(args: argparse.Namespace, data: Any, table: Callable[[], None]) -> None:
    if args.json:
        print(json.dumps(data, indent=None, default=str))
    else:
        table()


def print_pairs(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    grid = Table(title=title, show_header=False)
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in rows:
        grid.add_row(key, value)
    Console().print(grid)


def emit_table(
    args: argparse.Namespace, data: Any, title: str, columns: tuple[str, ...], rows: Sequence[Sequence[str]]
) -> None:
    """`data` as JSON with --json, else a table with a header row."""

    def table() -> None:
        from rich.console import Console
        from rich.table import Table

        grid = Table(title=title)
        for column in columns:
            grid.add_column(column)
        for row in rows:
            grid.add_row(*row)
        Console().print(grid)

    emit(args, data, table)


def spinner(args: argparse.Namespace, text: str) -> Any:
    """A progress spinner on stderr, silent with --json or without a terminal."""
    import contextlib

    if args.json or not sys.stderr.isatty():
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(text)
