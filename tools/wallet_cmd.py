"""`vcoin wallet new|list|import|address`: the encrypted keystore."""

import argparse
import sys
from collections.abc import Callable

from node.cli import read_password
from node.keystore import KeystoreError, mnemonic_for, seed_from_hex, seed_from_mnemonic
from tools.common import CliError, add_key_options, emit, keystore_of, print_pairs


def _new_password(args: argparse.Namespace) -> str:
    if args.password_file:
        return read_password(args.password_file)
    first = read_password(None, "New password: ")
    if read_password(None, "Repeat password: ") != first:
        raise CliError("the passwords do not match")
    return first


def new(args: argparse.Namespace) -> int:
    store = keystore_of(args)
    key = store.create(args.name, _new_password(args))
    words = mnemonic_for(key.seed)
    data = {"name": args.name, "address": key.address, "mnemonic": words}

    def table() -> None:
        print_pairs("New key", [("name", args.name), ("address", key.address), ("mnemonic", words)])
        print("Write the mnemonic down: it is the only way to restore this key.", file=sys.stderr)

    emit(args, data, table)
    return 0


def import_key(args: argparse.Namespace) -> int:
    if bool(args.seed) == bool(args.mnemonic):
        raise CliError("give exactly one of --seed HEX or --mnemonic 'WORDS'")
    seed = seed_from_hex(args.seed) if args.seed else seed_from_mnemonic(args.mnemonic)
    key = keystore_of(args).create(args.name, _new_password(args), seed=seed)
    emit(
        args,
        {"name": args.name, "address": key.address},
        lambda: print_pairs("Imported key", [("name", args.name), ("address", key.address)]),
    )
    return 0


def list_keys(args: argparse.Namespace) -> int:
    store = keystore_of(args)
    entries = [{"name": name, "address": store.address(name)} for name in store.names()]

    def table() -> None:
        if not entries:
            print(f"no keys in {store.path}; create one with `vcoin wallet new NAME`")
            return
        print_pairs(f"Keys in {store.path}", [(e["name"], e["address"]) for e in entries])

    emit(args, entries, table)
    return 0


def address(args: argparse.Namespace) -> int:
    addr = keystore_of(args).address(args.name)
    emit(args, {"name": args.name, "address": addr}, lambda: print(addr))
    return 0


def _wrap(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except KeystoreError as exc:
            raise CliError(str(exc)) from None

    return run


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser(
        "wallet", help="manage keys in the encrypted keystore", description=__doc__
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, helptext, handler, takes_name in (
        ("new", "create a key (prints its mnemonic once)", new, True),
        ("import", "import a key from a hex seed or a 24-word mnemonic", import_key, True),
        ("list", "list keys and addresses", list_keys, False),
        ("address", "print a key's address", address, True),
    ):
        sub = actions.add_parser(name, help=helptext, description=helptext)
        if takes_name:
            sub.add_argument("name", help="key name")
        add_key_options(sub)
        sub.add_argument("--json", action="store_true", help="machine-readable JSON output")
        if name == "import":
            sub.add_argument("--seed", help="32-byte seed as hex")
            sub.add_argument("--mnemonic", help="24-word BIP-39 mnemonic")
        sub.set_defaults(handler=_wrap(handler))
