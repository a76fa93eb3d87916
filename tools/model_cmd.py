"""`vcoin model add|list`: register models by the content hash of their files."""

import argparse
from pathlib import Path

from agent.models import model_hash
from tools.common import CliError, add_key_options, add_rpc_options, client_of, emit_table, signer
from tools.paging import every_page
from tools.submit import add_submit_options, submit_call


def _add(args: argparse.Namespace) -> int:
    path = Path(args.path)
    try:
        digest = model_hash(path)
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    name = args.name or path.stem
    call_args = {"hash": digest, "model_name": name, "kind": args.kind, "params": args.params,
                 "memory_mb": args.memory_mb}  # fmt: skip
    if not args.json:
        print(f"model {name}: {args.kind}, content hash 0x{digest.hex()}")
    return submit_call(args, signer(args, args.sender), "registry", "register_model", call_args)


def _list(args: argparse.Namespace) -> int:
    models = every_page(client_of(args), "vcoin_models", key=lambda model: model["hash"])
    models.sort(key=lambda model: model["name"])

    rows = [(m["name"], m["kind"], f"{m['params']:,}", f"{m['memoryMb']} MB", m["hash"][:18] + "…")
            for m in models]  # fmt: skip
    emit_table(args, models, "Models", ("name", "kind", "parameters", "memory", "hash"), rows)
    return 0


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("model", help="register and list models", description=__doc__)
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="register a model directory (or GGUF file) by its content hash")
    add.add_argument("path", help="the model directory or file")
    add.add_argument("--from", dest="sender", required=True, help="the registering account")
    add.add_argument("--name", help="a unique short name (default: the directory name)")
    add.add_argument("--kind", required=True, choices=["inference", "embed", "lora"])
    add.add_argument("--params", type=int, required=True, help="parameter count")
    add.add_argument("--memory-mb", type=int, default=1024, help="GPU memory it needs, MB")
    add_key_options(add)
    add_rpc_options(add)
    add_submit_options(add)
    add.set_defaults(handler=_add)
    listing = sub.add_parser("list", help="registered models")
    add_rpc_options(listing)
    listing.set_defaults(handler=_list)
