"""`vcoin wallet new|list|import|address`: the encrypted keystore.

`import` takes the seed or mnemonic from a no-echo prompt or from a file
(`-` for stdin), never from an argument the process list would show.
"""

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from node.cli import read_password
from node.keystore import KeystoreError, key_address, mnemonic_for, seed_from_hex, seed_from_mnemonic
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


_MAX_SECRET_CHARS = 4096  # a mnemonic is ~200 characters; more is not a secret of ours


def _read_secret_file(path: str, what: str) -> str:
    """A secret from a file, or from stdin for `-`: never from argv, which
    `ps` and shell history show to anyone."""
    try:
        text = sys.stdin.read(_MAX_SECRET_CHARS + 1) if path == "-" else Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read the {what} file: {getattr(exc, 'strerror', None) or exc}") from None
    if len(text) > _MAX_SECRET_CHARS:
        raise CliError(f"the {what} file is too large to hold a {what}")
    return text.strip()


def _prompted_seed() -> bytes:
    if not sys.stdin.isatty():
        raise CliError(
            "no terminal to ask for the secret: use --seed-file FILE or --mnemonic-file FILE (- for stdin)"
        )
    text = getpass.getpass("Seed (64 hex digits) or 24-word mnemonic: ").strip()
    if len(text.split()) > 1:
        return seed_from_mnemonic(text)
    return seed_from_hex(text)


def _import_seed(args: argparse.Namespace) -> bytes:
    if args.seed is not None or args.mnemonic is not None:
        flag = "--seed" if args.seed is not None else "--mnemonic"
        raise CliError(
            f"{flag} on the command line shows the secret to `ps` and shell history: "
            f"use {flag}-file FILE (- for stdin), or give neither to be prompted"
        )
    if args.seed_file is not None and args.mnemonic_file is not None:
        raise CliError("give at most one of --seed-file or --mnemonic-file")
    if args.seed_file is not None:
        return seed_from_hex(_read_secret_file(args.seed_file, "seed"))
    if args.mnemonic_file is not None:
        return seed_from_mnemonic(_read_secret_file(args.mnemonic_file, "mnemonic"))
    return _prompted_seed()


def import_key(args: argparse.Namespace) -> int:
    seed = _import_seed(args)
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
    addr = key_address(keystore_of(args), args.name)
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
        (
            "import",
            "import a key from a hex seed or a 24-word mnemonic (prompted, or from a file)",
            import_key,
            True,
        ),
        ("list", "list keys and addresses", list_keys, False),
        ("address", "print a key's address (a keystore name or a //dev key)", address, True),
    ):
        sub = actions.add_parser(name, help=helptext, description=helptext)
        if takes_name:
            sub.add_argument("name", help="key name")
        add_key_options(sub)
        sub.add_argument("--json", action="store_true", help="machine-readable JSON output")
        if name == "import":
            sub.add_argument("--seed-file", help="file holding the 32-byte seed as hex (- for stdin)")
            sub.add_argument("--mnemonic-file", help="file holding the 24-word BIP-39 mnemonic (- for stdin)")
            # Kept only to refuse them with a pointer to the files or the prompt.
            sub.add_argument("--seed", help=argparse.SUPPRESS)
            sub.add_argument("--mnemonic", help=argparse.SUPPRESS)
        sub.set_defaults(handler=_wrap(handler))
