"""`vcoin node` subcommands that work on a stopped node's base path:

    vcoin node purge-chain [--base-path DIR] [--chain X] [-y] [--blobs]
    vcoin node key inspect [--base-path DIR] [--chain X] [--json]
    vcoin node slashing-protection export [--base-path DIR] [--chain X] [--out FILE]
    vcoin node slashing-protection import [--base-path DIR] [--chain X] FILE

Without a subcommand, `vcoin node [flags]` runs the node as before.
"""

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genesis.spec import load_spec
from node.slashing_interchange import InterchangeError, export_interchange, import_interchange
from node.slashing_protection import DIRECTORY, SlashingProtection, fsync_dir, write_atomic
from node.storage import CHAIN_ID, StorageError, peek_meta
from runtime.crypto import to_address

# What purge-chain leaves alone under the base path, and why it matters.
KEPT = (
    ("keystore", "validator and account keys"),
    ("network", "node key: the peer id others list as a bootnode"),
    (DIRECTORY, "slashing protection: the votes this node's keys signed"),
    ("worker", "worker progress: jobs committed to and still to reveal"),
    ("blobs", "job inputs and results (--blobs removes them)"),
)


def default_base_path(chain_id: str) -> Path:
    return Path.home() / ".vcoin" / chain_id


def base_path_of(args: argparse.Namespace) -> Path:
    """--base-path, else the default for --chain (dev when omitted), as `vcoin node` uses."""
    if args.base_path:
        return Path(args.base_path)
    return default_base_path(load_spec(args.chain or "dev").id)


def _database(base: Path) -> Path:
    return base / "db"


def _has_database(base: Path) -> bool:
    return (_database(base) / "CURRENT").exists()


def _ensure_stopped(base: Path) -> bytes | None:
    """Refuse while a node runs on `base` (it holds the database's lock);
    the chain id the database holds, if there is one."""
    if not _has_database(base):
        return None
    return peek_meta(_database(base), CHAIN_ID)  # StorageError "already in use" while a node runs


# -- purge-chain -----------------------------------------------------------------
def purge_chain(args: argparse.Namespace) -> int:
    base = base_path_of(args)
    database = _database(base)
    if not database.exists():
        print(f"Nothing to purge: no chain database at {database}")
        return 0
    _ensure_stopped(base)
    doomed = [database]
    if args.blobs and (base / "blobs").exists():
        doomed.append(base / "blobs")
    if not args.yes and not _confirm(f"Remove {' and '.join(map(str, doomed))}?"):
        print("error: aborted, nothing removed", file=sys.stderr)
        return 1
    for path in doomed:
        _remove(path)
        print(f"Removed {path}")
    for leftover in base.glob(".*.purging-*"):  # of a purge a crash cut short
        shutil.rmtree(leftover, ignore_errors=True)
    for name, what in KEPT:
        if (base / name).exists() and base / name not in doomed:
            print(f"Kept    {base / name} ({what})")
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        raise ValueError("no terminal to confirm on: pass -y to purge without asking")
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _remove(path: Path) -> None:
    """Rename first (one atomic step), then delete: a crash halfway leaves a
    directory named as garbage, never a half-deleted database a node would open."""
    doomed = path.with_name(f".{path.name}.purging-{os.getpid()}")
    os.replace(path, doomed)
    fsync_dir(path.parent)
    shutil.rmtree(doomed)


# -- key inspect -------------------------------------------------------------------
def key_inspect(args: argparse.Namespace) -> int:
    from node.p2p import load_node_key, peer_id_of  # libp2p: loaded only for this command

    path = base_path_of(args) / "network" / "secret_ed25519"
    created = not path.exists()
    peer_id = peer_id_of(load_node_key(path))
    if args.json:
        print(json.dumps({"peerId": peer_id, "path": str(path), "created": created}))
        return 0
    if created:
        print(f"Generated a new node key at {path}", file=sys.stderr)
    print(peer_id)
    return 0


# -- slashing-protection export / import ------------------------------------------
def _chain_id(args: argparse.Namespace, base: Path, database_id: bytes | None) -> bytes:
    """--chain, else the chain of the base path's database, else the one chain
    the store knows, else dev (as `vcoin node` defaults)."""
    if args.chain:
        return load_spec(args.chain).chain_id
    if database_id is not None:
        return database_id
    root = base / DIRECTORY
    known = [p.name for p in root.iterdir() if p.is_dir() and len(p.name) == 64] if root.is_dir() else []
    if len(known) == 1:
        return bytes.fromhex(known[0])
    if len(known) > 1:
        raise ValueError(f"{root} holds several chains: say which with --chain")
    return load_spec("dev").chain_id


def protection_export(args: argparse.Namespace) -> int:
    base = base_path_of(args)
    try:
        database_id = None if args.chain else _ensure_stopped(base)
    except StorageError:  # the node runs: its records are still consistent to read
        database_id = None
    store = SlashingProtection(base, _chain_id(args, base, database_id))
    document = export_interchange(store)
    text = json.dumps(document, indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        write_atomic(Path(args.out), text.encode())
        print(f"Exported the votes of {len(document['data'])} keys to {args.out}", file=sys.stderr)
    return 0


def protection_import(args: argparse.Namespace) -> int:
    base = base_path_of(args)
    # A running node would not see the import and would overwrite it with its older record.
    database_id = _ensure_stopped(base)
    store = SlashingProtection(base, _chain_id(args, base, database_id))
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
        document = json.loads(text)
    except OSError as exc:
        raise ValueError(f"cannot read {args.file}: {exc.strerror}") from None
    except ValueError as exc:
        raise InterchangeError(f"{args.file} is not JSON ({exc})") from None
    results = import_interchange(store, document)
    if args.json:
        rows = [
            {"pubkey": "0x" + r.pubkey.hex(), "address": to_address(r.pubkey),
             "sourceNumber": r.after.source, "targetNumber": r.after.target,
             "changed": r.after != r.before}
            for r in results
        ]  # fmt: skip
        print(json.dumps({"chain": "0x" + store.chain_id.hex(), "imported": rows}))
        return 0
    for r in results:
        note = "unchanged" if r.after == r.before else "updated"
        print(f"{to_address(r.pubkey)}: source #{r.after.source}, target #{r.after.target} ({note})")
    print(f"Imported the votes of {len(results)} keys into {store.root}")
    return 0


# -- registration ------------------------------------------------------------------
def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (StorageError, ValueError) as exc:  # InterchangeError is a ValueError
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
            return 1

    return run


def _location(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: the same flags given before the subcommand (`vcoin node
    # --base-path D purge-chain`) are not reset by the subcommand's defaults.
    parser.add_argument(
        "--base-path", default=argparse.SUPPRESS, help="data directory (default ~/.vcoin/<chain>)"
    )
    parser.add_argument(
        "--chain", default=argparse.SUPPRESS, help="built-in chain or spec file (default dev)"
    )


def register(node_parser: argparse.ArgumentParser) -> None:
    commands: Any = node_parser.add_subparsers(
        dest="node_command", metavar="SUBCOMMAND", title="subcommands (instead of running the node)"
    )
    purge = commands.add_parser(
        "purge-chain", help="delete the chain database; keep keys, node key and slashing protection"
    )
    _location(purge)
    purge.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    purge.add_argument("--blobs", action="store_true", help="also delete stored job inputs and results")
    purge.set_defaults(handler=_guarded(purge_chain))

    key = commands.add_parser("key", help="the node's libp2p key")
    key_commands = key.add_subparsers(dest="key_command", metavar="ACTION", required=True)
    inspect = key_commands.add_parser("inspect", help="print the peer id (creating the node key if missing)")
    _location(inspect)
    inspect.add_argument("--json", action="store_true", help="machine output: {peerId, path, created}")
    inspect.set_defaults(handler=_guarded(key_inspect))

    protection = commands.add_parser(
        "slashing-protection", help="export or import the votes this node's keys signed (EIP-3076 style)"
    )
    actions = protection.add_subparsers(dest="protection_command", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="write the interchange JSON (stdout unless --out)")
    _location(export)
    export.add_argument("--out", help="file to write")
    export.set_defaults(handler=_guarded(protection_export))
    imported = actions.add_parser("import", help="merge an interchange file (never lowers a record)")
    _location(imported)
    imported.add_argument("file", help="interchange JSON file, or - for stdin")
    imported.add_argument("--json", action="store_true", help="machine output")
    imported.set_defaults(handler=_guarded(protection_import))
