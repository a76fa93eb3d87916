"""`vcoin tx transfer|bond|unbond|withdraw|validate|chill`: signed calls.
(One becomes a compute provider with `vcoin provider register`, not here.)"""

import argparse
from collections.abc import Callable

from tools.common import (
    CliError,
    account_id,
    add_key_options,
    add_rpc_options,
    client_of,
    format_vc,
    parse_amount,
    signer,
)
from tools.submit import add_submit_options, submit_call

Handler = Callable[[argparse.Namespace], int]


def _check_free(args: argparse.Namespace, who: bytes, needed: int) -> None:
    """Refuse before signing what cannot succeed, so no fee is wasted."""
    free = client_of(args).account(who)["free"]
    if free < needed:
        raise CliError(f"insufficient balance: {format_vc(free)} free, {format_vc(needed)} needed")


def transfer(args: argparse.Namespace) -> int:
    amount = parse_amount(args.amount)
    to = account_id(args, args.to)
    key = signer(args, args.sender)
    _check_free(args, key.public, amount)
    name = "transfer_keep_alive" if args.keep_alive else "transfer"
    return submit_call(args, key, "balances", name, {"to": to, "amount": amount}, parse_amount(args.tip))


def bond(args: argparse.Namespace) -> int:
    amount = parse_amount(args.amount)
    key = signer(args, args.sender)
    _check_free(args, key.public, amount)
    return submit_call(args, key, "staking", "bond", {"amount": amount}, parse_amount(args.tip))


def unbond(args: argparse.Namespace) -> int:
    amount = parse_amount(args.amount)
    key = signer(args, args.sender)
    bonded = int(client_of(args).call("vcoin_staking", key.address)["bonded"])
    if bonded < amount:
        raise CliError(f"cannot unbond {format_vc(amount)}: only {format_vc(bonded)} bonded")
    return submit_call(args, key, "staking", "unbond", {"amount": amount}, parse_amount(args.tip))


def _simple(call: str) -> Handler:
    def run(args: argparse.Namespace) -> int:
        return submit_call(args, signer(args, args.sender), "staking", call, {}, parse_amount(args.tip))

    return run


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("tx", help="sign and submit a transaction", description=__doc__)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, helptext: str, handler: Handler, amount: bool = False) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = actions.add_parser(name, help=helptext, description=helptext)
        sub.add_argument(
            "--from", dest="sender", required=True, help="signing key: keystore name or //dev name"
        )
        if amount:
            sub.add_argument("--amount", required=True, help="amount in VCoin (up to 9 decimals)")
        add_rpc_options(sub)
        add_key_options(sub)
        add_submit_options(sub)
        sub.set_defaults(handler=handler)
        return sub

    sub = action("transfer", "send VCoin to an account", transfer, amount=True)
    sub.add_argument("--to", required=True, help="vc1 address, //dev name or keystore name")
    sub.add_argument("--keep-alive", action="store_true", help="fail rather than reap the sender")
    action("bond", "bond stake (moves free funds to reserved)", bond, amount=True)
    action(
        "unbond",
        "start unbonding stake (withdrawable after the unbonding period)",
        unbond,
        amount=True,
    )
    action("withdraw", "withdraw matured unbonded stake", _simple("withdraw_unbonded"))
    action("validate", "offer to validate (needs the minimum validator bond)", _simple("validate"))
    action("chill", "stop offering to validate (leaves the set at the next era)", _simple("chill"))
