"""`vcoin provider register|status`: serve models for pay."""

import argparse
import sys

from runtime.crypto import to_address
from tools.common import (
    CliError,
    account_id,
    add_key_options,
    add_rpc_options,
    client_of,
    emit,
    format_vc,
    parse_amount,
    print_pairs,
    signer,
)
from tools.submit import add_submit_options, submit_call


def _register(args: argparse.Namespace) -> int:
    client = client_of(args)
    hashes = []
    for name in args.model:
        found = client.call("vcoin_model", name)
        hashes.append(bytes.fromhex(found["hash"][2:]))
    if len(set(hashes)) != len(hashes):
        raise CliError("a model is listed twice")
    call_args = {"models": hashes, "memory_mb": args.memory_mb, "price": parse_amount(args.price)}
    return submit_call(args, signer(args, args.sender), "registry", "register_provider", call_args)


def _status(args: argparse.Namespace) -> int:
    who = to_address(account_id(args, args.account))
    status = client_of(args).call("vcoin_provider", who)

    def table() -> None:
        print_pairs(f"Provider {who}", [
            ("stake", format_vc(status["stake"])), ("reputation", f"{status['reputation'] / 10_000:.2f}%"),
            ("models", str(len(status["models"]))), ("price", format_vc(status["price"]) + " per unit"),
            ("jobs done", str(status["jobsDone"])), ("jobs failed", str(status["jobsFailed"])),
            ("open jobs", str(status["openJobs"])), ("slashes this era", str(status["slashes"])),
            *([("chilled until block", str(status["chilledUntil"]))] if status.get("chilledUntil") else []),
        ])  # fmt: skip

    emit(args, status, table)
    return 0


def _image_build(args: argparse.Namespace) -> int:
    import docker

    from tools.provider_image import ImageBuildError, build

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        raise CliError(
            f"no Docker daemon answers ({type(exc).__name__}); start it (dockerd) and try again"
        ) from None
    try:
        built = build(
            client, args.tag, args.cuda, args.torch_index, progress=lambda line: print(line, file=sys.stderr)
        )
    except ImageBuildError as exc:
        raise CliError(str(exc)) from None
    finally:
        client.close()

    def text() -> None:
        state = "up to date" if built.cached else f"built in {built.seconds:.0f} s"
        print(f"{built.tag}: {state}, {built.size / 1e9:.2f} GB ({built.id[:19]})")

    emit(args, built.to_json(), text)
    return 0


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("provider", help="register as a GPU provider", description=__doc__)
    sub = parser.add_subparsers(dest="provider_command", metavar="ACTION", required=True)
    reg = sub.add_parser("register", help="serve models (bond first: vcoin tx bond)")
    reg.add_argument("--from", dest="sender", required=True, help="the provider account")
    reg.add_argument("--model", action="append", required=True, help="a model name or 0x hash (repeatable)")
    reg.add_argument("--price", required=True, help="asking price per work unit, in VCoin")
    reg.add_argument("--memory-mb", type=int, required=True, help="GPU memory offered, MB")
    add_key_options(reg)
    add_rpc_options(reg)
    add_submit_options(reg)
    reg.set_defaults(handler=_register)
    status = sub.add_parser("status", help="a provider's stake, reputation and record")
    status.add_argument("account", help="vc1 address, //dev name or keystore name")
    add_key_options(status)
    add_rpc_options(status)
    status.set_defaults(handler=_status)
    image = sub.add_parser("image", help="the agent image that --executor docker runs")
    image_sub = image.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    build = image_sub.add_parser(
        "build", help="build the agent image from packages (no registry needed)",
        description="Build the agent image: a Debian base from mmdebstrap, the worker extra's wheels "
        "from this machine's package index, installed offline. Unchanged inputs reuse the image.",
    )  # fmt: skip
    build.add_argument("--cuda", action="store_true", help="with torch's CUDA build (tag vcoin/agent:cuda)")
    build.add_argument(
        "--tag", help="image tag (default vcoin/agent:latest, or vcoin/agent:cuda with --cuda)"
    )
    build.add_argument(
        "--torch-index", metavar="URL", help="an extra package index with CUDA builds of torch"
    )
    build.add_argument("--json", action="store_true", help="print one JSON object")
    build.set_defaults(handler=_image_build)
