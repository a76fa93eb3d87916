"""`vcoin query account|staking|block|supply|head`: read chain state over RPC."""

import argparse
from typing import Any

from runtime.crypto import to_address
from tools.common import (
    CliError,
    account_id,
    add_key_options,
    add_rpc_options,
    client_of,
    emit,
    format_vc,
    print_pairs,
)


def account(args: argparse.Namespace) -> int:
    who = to_address(account_id(args, args.address))
    data = client_of(args).account(who)
    rows = [("address", who)] + [(k, format_vc(v)) for k, v in data.items() if k != "nonce"]
    emit(
        args,
        {"address": who, **data},
        lambda: print_pairs("Account", [*rows, ("nonce", str(data["nonce"]))]),
    )
    return 0


def staking(args: argparse.Namespace) -> int:
    who = to_address(account_id(args, args.address))
    data = client_of(args).call("vcoin_staking", who)
    rows = [
        ("address", who),
        ("bonded", format_vc(data["bonded"])),
        ("unbonding", format_vc(data["unbonding"])),
        ("role", data["role"]),
        ("active validator", "yes" if data["active"] else "no"),
        ("era", str(data["era"])),
    ]
    emit(args, {"address": who, **data}, lambda: print_pairs("Staking", rows))
    return 0


def block(args: argparse.Namespace) -> int:
    client = client_of(args)
    at: Any = args.at
    if at is not None and at.isdigit():
        at = client.call("chain_getBlockHash", int(at))
        if at is None:
            raise CliError(f"no block #{args.at} yet")
    data = client.call("chain_getBlock", *([at] if at else []))
    header = data["header"]
    rows = [(k, str(v)) for k, v in header.items()] + [("extrinsics", str(len(data["extrinsics"])))]
    emit(args, data, lambda: print_pairs(f"Block #{header['number']}", rows))
    return 0


def supply(args: argparse.Namespace) -> int:
    data = client_of(args).call("vcoin_supply")
    emit(args, data, lambda: print_pairs("Supply", [(k, format_vc(v)) for k, v in data.items()]))
    return 0


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("query", help="read chain state", description=__doc__)
    actions = parser.add_subparsers(dest="action", metavar="WHAT", required=True)
    for name, helptext, handler, arg in (
        ("account", "balances and nonce of an account", account, "address"),
        ("staking", "bonded stake and role of an account", staking, "address"),
        ("block", "a block by number or hash (best when omitted)", block, "at"),
        ("supply", "cap, minted, burned, reward pool", supply, None),
    ):
        sub = actions.add_parser(name, help=helptext, description=helptext)
        if arg == "address":
            sub.add_argument("address", help="vc1 address, //dev name or keystore name")
        elif arg == "at":
            sub.add_argument("at", nargs="?", help="block number or 0x hash")
        add_rpc_options(sub)
        add_key_options(sub)
        sub.set_defaults(handler=handler)
