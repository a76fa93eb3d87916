"""`vcoin session open|close|status|list`: prepaid serving sessions.

A session reserves a deposit with a provider of a model at the provider's
price per work unit, fixed at opening; requests then travel off chain with
cheques signed by the session's key (`tools.cheque`), and the provider
settles them on chain in batches. Closing (by either side) leaves the
provider a last settle window; then the unused deposit is refunded."""

import argparse
from typing import Any

from runtime.constants import SESSION_CLOSE_WINDOW
from runtime.crypto import to_address
from tools.common import (
    CliError,
    account_id,
    add_key_options,
    add_rpc_options,
    client_of,
    emit,
    emit_table,
    format_vc,
    parse_amount,
    print_pairs,
    signer,
    spinner,
)
from tools.paging import PAGE
from tools.sdk import Market, SessionFailed
from tools.submit import add_submit_options, submit_call

AMOUNTS = ("price", "deposit", "paid", "remaining")


def _print_session(found: dict[str, Any]) -> None:
    rows = [(k, format_vc(v) if k in AMOUNTS else str(v)) for k, v in found.items()
            if v is not None and k != "recentBatches"]  # fmt: skip
    print_pairs(f"Session {found['id']}", rows)


def _the_session(args: argparse.Namespace, session_id: int) -> dict[str, Any]:
    found: dict[str, Any] | None = client_of(args).call("vcoin_session", session_id)
    if found is None:
        raise CliError(f"no session {session_id}: never opened, or it has ended (and was refunded)")
    return found


def _open(args: argparse.Namespace) -> int:
    if args.expiry_blocks < 1:
        raise CliError("--expiry-blocks must be at least 1")
    if not 0 <= args.min_reputation <= 1_000_000:
        raise CliError("--min-reputation is in ppm, from 0 to 1,000,000")
    deposit, max_price = parse_amount(args.deposit), parse_amount(args.max_price)
    provider = to_address(account_id(args, args.provider)) if args.provider else None
    market = Market(args.rpc_url, key=signer(args, args.sender))
    with spinner(args, "opening the session"):
        try:
            session = market.session(args.model, deposit, max_price, provider, args.expiry_blocks,
                                     args.min_reputation, timeout=args.timeout)  # fmt: skip
        except SessionFailed as exc:
            raise CliError(str(exc)) from None
    found = session.status()
    if found is None:  # ended already: only with an expiry a few blocks away
        raise CliError(f"session {session.id} was opened but has ended already")
    emit(args, found, lambda: _print_session(found))
    return 0


def _close(args: argparse.Namespace) -> int:
    _the_session(args, args.id)
    return submit_call(args, signer(args, args.sender), "sessions", "close", {"session": args.id})


def _status(args: argparse.Namespace) -> int:
    found = _the_session(args, args.id)
    emit(args, found, lambda: _print_session(found))
    return 0


def _list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    filters = {"account": to_address(account_id(args, args.account))} if args.account else {}
    client = client_of(args)
    listed: list[dict[str, Any]] = []
    start = None
    while len(listed) < args.limit:
        want = min(PAGE, args.limit - len(listed))
        page: list[dict[str, Any]] = client.call("vcoin_sessions", filters, want, start)
        listed += page
        if len(page) < want:
            break
        start = page[-1]["id"]
    rows = [(str(s["id"]), s["status"], s["user"][:16], s["provider"][:16], format_vc(s["price"]),
             format_vc(s["deposit"]), format_vc(s["paid"]), str(s["endsAt"])) for s in listed]  # fmt: skip
    columns = ("id", "status", "user", "provider", "price", "deposit", "paid", "ends at")
    emit_table(args, listed, "Sessions", columns, rows)
    return 0


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("session", help="prepaid serving sessions", description=__doc__)
    sub = parser.add_subparsers(dest="session_command", metavar="ACTION", required=True)

    opening = sub.add_parser("open", help="reserve a deposit with a provider of a model")
    opening.add_argument(
        "--from", dest="sender", required=True, help="the paying account (keystore name or //dev)"
    )
    opening.add_argument("--model", required=True, help="model name or 0x content hash")
    opening.add_argument("--provider", help="this provider (vc1 address, //dev or keystore name); else drawn")
    opening.add_argument("--deposit", required=True, help="VCoin reserved for the session")
    opening.add_argument("--max-price", required=True, help="the most you pay per work unit, in VCoin")
    opening.add_argument(
        "--expiry-blocks", type=int, default=1_000, help="blocks the session serves (default 1000)"
    )
    opening.add_argument(
        "--min-reputation", type=int, default=0, help="SLA: the provider's lowest reputation (ppm)"
    )
    opening.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for inclusion")
    add_key_options(opening)
    add_rpc_options(opening)
    opening.set_defaults(handler=_open)

    closing = sub.add_parser(
        "close",
        help=f"close a session: the provider's last settles, then the refund ({SESSION_CLOSE_WINDOW} blocks)",
    )
    closing.add_argument("--from", dest="sender", required=True, help="the session's opener or provider")
    closing.add_argument("id", type=int)
    add_key_options(closing)
    add_rpc_options(closing)
    add_submit_options(closing)
    closing.set_defaults(handler=_close)

    status = sub.add_parser("status", help="a session's record")
    status.add_argument("id", type=int)
    add_rpc_options(status)
    status.set_defaults(handler=_status)

    listing = sub.add_parser(
        "list", help="live sessions, newest first: an account's (as opener or provider), or all"
    )
    listing.add_argument("account", nargs="?", help="vc1 address, //dev name or keystore name")
    listing.add_argument("--limit", type=int, default=200, help="most sessions to list (default 200)")
    add_key_options(listing)
    add_rpc_options(listing)
    listing.set_defaults(handler=_list)
