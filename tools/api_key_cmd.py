"""`vcoin api-key new|list|revoke`: bearer keys for the node's OpenAI-compatible API.

A key spends from one account (a keystore entry or a //dev name), up to
`--limit` VCoin if given. The key is printed once; the directory keeps its
hash and the account's seed sealed under it (`node.api_keys`). The node
(`vcoin node --api-port N --api-keys DIR`) reads the same directory and
notices new and revoked keys while it runs."""

import argparse
import time
from pathlib import Path

from node.api_keys import DEFAULT_DIR, ApiKey, ApiKeys
from runtime.crypto import to_address
from tools.common import CliError, add_key_options, emit, emit_table, format_vc, parse_amount, signer


def _keys(args: argparse.Namespace) -> ApiKeys:
    return ApiKeys(Path(args.dir) if args.dir else DEFAULT_DIR)


def _json(key: ApiKey) -> dict[str, object]:
    return {"id": key.id, "account": to_address(key.account), "limit": key.limit, "spent": key.spent,
            "created": key.created}  # fmt: skip


def _new(args: argparse.Namespace) -> int:
    limit = parse_amount(args.limit) if args.limit is not None else None
    account = signer(args, args.account)
    text, key = _keys(args).new(account, limit)
    data = {"key": text, "account": to_address(account.public), "id": key.id, "limit": limit}

    def table() -> None:
        print(f"API key {key.id} for {to_address(account.public)}"
              f"{'' if limit is None else ', limit ' + format_vc(limit)}:")  # fmt: skip
        print(f"  {text}")
        print("Shown once: keep it now (only its hash is stored).")

    emit(args, data, table)
    return 0


def _list(args: argparse.Namespace) -> int:
    keys = _keys(args).list()
    rows = [[k.id, to_address(k.account), "none" if k.limit is None else format_vc(k.limit), format_vc(k.spent),
             time.strftime("%Y-%m-%d %H:%M", time.gmtime(k.created))] for k in keys]  # fmt: skip
    columns = ("id", "account", "limit", "spent", "created (UTC)")
    emit_table(args, [_json(k) for k in keys], "API keys", columns, rows)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    if not _keys(args).revoke(args.id):
        raise CliError(f"no API key {args.id!r} (vcoin api-key list shows them)")
    emit(args, {"revoked": args.id}, lambda: print(f"API key {args.id} revoked"))
    return 0


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("api-key", help="API keys for the OpenAI-compatible API")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--dir", help=f"API key directory (default {DEFAULT_DIR}; the node's --api-keys)")
        sub.add_argument("--json", action="store_true", help="machine-readable JSON output")

    new = actions.add_parser("new", help="make a key that spends from an account (printed once)")
    new.add_argument("--account", required=True, help="keystore name or //dev name the key spends from")
    new.add_argument("--limit", help="most VCoin the key may spend (default: no limit)")
    add_key_options(new)
    common(new)
    new.set_defaults(handler=_new)
    listing = actions.add_parser("list", help="the keys, their accounts, limits and spending")
    common(listing)
    listing.set_defaults(handler=_list)
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id", help="the key's id (from list)")
    common(revoke)
    revoke.set_defaults(handler=_revoke)
