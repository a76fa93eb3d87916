"""`vcoin gov propose|vote|list`: stake-weighted governance."""

import argparse
from typing import Any

from tools.common import (
    CliError,
    account_id,
    add_key_options,
    add_rpc_options,
    client_of,
    emit_table,
    parse_amount,
    signer,
)
from tools.paging import every_page
from tools.submit import add_submit_options, submit_call


def propose(args: argparse.Namespace) -> int:
    chosen = [x is not None for x in (args.param, args.spend, args.validator_count)]
    if sum(chosen) != 1:
        raise CliError(
            "choose one of --param NAME --value N, --spend SOURCE --to ADDR --amount VC, --validator-count N"
        )
    action: str
    call_args: dict[str, Any]
    if args.param is not None:
        if args.value is None:
            raise CliError("--param needs --value (an integer)")
        action, call_args = "set_param", {"name": args.param, "value": args.value}
    elif args.spend is not None:
        if args.to is None or args.amount is None:
            raise CliError("--spend needs --to and --amount")
        action = "treasury_spend"
        call_args = {
            "source": args.spend,
            "to": account_id(args, args.to),
            "amount": parse_amount(args.amount),
        }
    else:
        action, call_args = "set_validator_count", {"count": args.validator_count}
    key = signer(args, args.sender)
    return submit_call(
        args,
        key,
        "governance",
        "propose",
        {"action": action, "args": call_args},
        parse_amount(args.tip),
    )


def vote(args: argparse.Namespace) -> int:
    if args.aye == args.nay:
        raise CliError("vote with exactly one of --aye or --nay")
    key = signer(args, args.sender)
    return submit_call(
        args, key, "governance", "vote", {"id": args.id, "aye": args.aye}, parse_amount(args.tip)
    )


def list_proposals(args: argparse.Namespace) -> int:
    proposals = every_page(client_of(args), "vcoin_proposals")

    rows = [(str(p["id"]), p["action"], str(p["args"]), p["status"], str(p["ayes"]), str(p["nays"]),
             str(p["end"]), str(p["enactAt"] or "")) for p in proposals]  # fmt: skip
    columns = ("id", "action", "args", "status", "ayes", "nays", "end", "enact at")
    emit_table(args, proposals, "Proposals", columns, rows)
    return 0


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("gov", help="governance proposals and votes", description=__doc__)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = actions.add_parser("propose", help="open a proposal (reserves the deposit)")
    sub.add_argument("--from", dest="sender", required=True, help="signing key")
    sub.add_argument("--param", help="parameter to change, e.g. burn_rate_ppm")
    sub.add_argument("--value", type=int, help="new value of --param")
    sub.add_argument("--spend", choices=["ecosystem", "reserve"], help="treasury account to spend from")
    sub.add_argument("--to", help="recipient of --spend")
    sub.add_argument("--amount", help="amount of --spend in VCoin")
    sub.add_argument("--validator-count", type=int, help="new maximum validator count")
    sub.set_defaults(handler=propose)
    vote_parser = actions.add_parser("vote", help="vote with your bonded stake")
    vote_parser.add_argument("--from", dest="sender", required=True, help="signing key")
    vote_parser.add_argument("--id", type=int, required=True, help="proposal id")
    vote_parser.add_argument("--aye", action="store_true")
    vote_parser.add_argument("--nay", action="store_true")
    vote_parser.set_defaults(handler=vote)
    list_parser = actions.add_parser("list", help="list proposals with tallies")
    list_parser.set_defaults(handler=list_proposals)
    for p in (sub, vote_parser):
        add_key_options(p)
        add_submit_options(p)
    for p in (sub, vote_parser, list_parser):
        add_rpc_options(p)
