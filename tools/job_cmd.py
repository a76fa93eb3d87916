"""`vcoin job submit|status|result|list`: pay for compute and get results."""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from runtime.crypto import to_address
from tools.client import WaitTimeout
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
from tools.job_watch import Transition
from tools.paging import newest_jobs
from tools.results import artifact, render
from tools.sdk import Job, JobFailed, Market

OPTION_FLAGS = ("max_tokens", "rank", "alpha", "steps", "lr_ppm", "seed", "providers", "sync_every", "rounds",
                "outer_lr_ppm", "momentum_ppm")  # fmt: skip
OPTION_HELP = {
    "providers": "lora: spread the job over K providers (DiLoCo rounds; the fee and work are split)",
    "sync_every": "lora over providers: local steps between two exchanges of the adapter (H)",
    "rounds": "lora over providers: exchanges in the job (it takes sync_every x rounds steps)",
}


def _input(args: argparse.Namespace) -> Any:
    texts = list(args.input or [])
    if args.input_file:
        content = Path(args.input_file).read_text()
        texts += (
            [content] if args.kind == "inference" else [line for line in content.splitlines() if line.strip()]
        )
    if not texts:
        raise CliError("give the job's input with --input TEXT or --input-file FILE")
    if args.kind == "inference":
        if len(texts) != 1:
            raise CliError("an inference job takes one prompt")
        return texts[0]
    return texts


def _submit(args: argparse.Namespace) -> int:
    market = Market(args.rpc_url, key=signer(args, args.sender))
    options = {name: getattr(args, name) for name in OPTION_FLAGS if getattr(args, name) is not None}
    with spinner(args, "submitting the job"):
        try:
            job = market.submit(args.kind, args.model, _input(args), parse_amount(args.max_fee), options,
                                args.deadline, args.min_reputation)  # fmt: skip
        except JobFailed as exc:
            raise CliError(str(exc)) from None
    if not args.wait:
        status = job.status()
        emit(args, status, lambda: _print_status(status))
        return 0
    return _wait_and_show(args, job, with_record=True)


def _wait_and_show(args: argparse.Namespace, job: Job, with_record: bool = False) -> int:
    """Each transition is one line on stderr as it happens (stdout keeps the
    result alone, for --json); the wait ends, non-zero, as soon as the job
    cannot succeed."""
    with spinner(args, f"job {job.id}: waiting for a provider") as status_line:

        def tick(status: dict[str, Any]) -> None:
            if status_line is not None and hasattr(status_line, "update"):
                status_line.update(f"job {job.id}: {status['status']}")

        def say(transition: Transition) -> None:
            line = f"job {job.id}: {transition.text}"
            if status_line is not None and hasattr(status_line, "console"):
                status_line.console.print(line, markup=False, highlight=False)
            else:
                print(line, file=sys.stderr, flush=True)

        try:
            job.wait(args.timeout, tick, say)
        except (JobFailed, WaitTimeout) as exc:
            raise CliError(str(exc)) from None
    return _show_result(args, job, with_record)


def _show_result(args: argparse.Namespace, job: Job, with_record: bool = False) -> int:
    """`with_record`: the JSON is `{"job": record, "result": rendered}`, so a
    script that submitted learns the id, provider, fee and check without a
    second call; the table output is the result alone either way."""
    try:
        encoded = job.result_bytes()
    except JobFailed as exc:
        raise CliError(str(exc)) from None
    if args.out:
        Path(args.out).write_bytes(artifact(job.kind, encoded))
    rendered = render(job.kind, encoded)
    data = {"job": job.status(), "result": rendered} if with_record and args.json else rendered
    emit(
        args,
        data,
        lambda: print(json.dumps(rendered, indent=2) if not args.out else f"saved to {args.out}"),
    )
    return 0


def _print_status(status: dict[str, Any]) -> None:
    rows = [(k, str(v)) for k, v in status.items() if v is not None]
    for key in ("maxFee", "fee"):
        rows = [(k, format_vc(int(v)) if k == key else v) for k, v in rows]
    print_pairs(f"Job {status['id']}", rows)


def _status(args: argparse.Namespace) -> int:
    status = client_of(args).call("vcoin_job", args.id)
    emit(args, status, lambda: _print_status(status))
    return 0


def _result(args: argparse.Namespace) -> int:
    job = Market(args.rpc_url).job(args.id)
    if args.wait:
        return _wait_and_show(args, job)
    return _show_result(args, job)


def _list(args: argparse.Namespace) -> int:
    filters = {k: str(args_value) for k in ("submitter", "provider", "status")
               if (args_value := getattr(args, k))}  # fmt: skip
    for key in ("submitter", "provider"):
        if key in filters:
            filters[key] = to_address(account_id(args, filters[key]))
    if args.limit < 1:
        raise CliError("--limit must be at least 1")
    listed = newest_jobs(client_of(args), filters, args.limit)

    rows = [(str(j["id"]), j["kind"], j["status"], str(j["units"]), format_vc(j["maxFee"]),
             (j["provider"] or "-")[:16]) for j in listed]  # fmt: skip
    emit_table(args, listed, "Jobs", ("id", "kind", "status", "units", "max fee", "provider"), rows)
    return 0


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("job", help="submit compute jobs and fetch results", description=__doc__)
    sub = parser.add_subparsers(dest="job_command", metavar="ACTION", required=True)

    submit = sub.add_parser("submit", help="pay for an inference, embed or lora job")
    submit.add_argument(
        "--from", dest="sender", required=True, help="the paying account (keystore name or //dev)"
    )
    submit.add_argument("--kind", required=True, choices=["inference", "embed", "lora"])
    submit.add_argument("--model", required=True, help="model name or 0x content hash")
    submit.add_argument(
        "--input", action="append", help="a prompt (inference) or a text (embed, lora; repeatable)"
    )
    submit.add_argument("--input-file", help="a file: the prompt, or one text per line")
    submit.add_argument("--max-fee", required=True, help="the most you pay, in VCoin")
    submit.add_argument("--deadline", type=int, default=200, help="blocks until an unserved job is refunded")
    submit.add_argument(
        "--min-reputation", type=int, default=0, help="SLA: providers' lowest reputation (ppm)"
    )
    for name in OPTION_FLAGS:
        submit.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=int,
            help=OPTION_HELP.get(name, f"job option {name}"),
        )
    submit.add_argument(
        "--wait", action="store_true", help='wait for the result and print it (--json: {"job", "result"})'
    )
    submit.add_argument("--timeout", type=float, default=600.0, help="seconds to wait with --wait")
    submit.add_argument("--out", help="with --wait: write the result (a LoRA adapter) to this file")
    add_key_options(submit)
    add_rpc_options(submit)
    submit.set_defaults(handler=_submit)

    status = sub.add_parser("status", help="a job's record")
    status.add_argument("id", type=int)
    add_rpc_options(status)
    status.set_defaults(handler=_status)

    result = sub.add_parser("result", help="a job's result")
    result.add_argument("id", type=int)
    result.add_argument("--out", help="write the result (a LoRA adapter, else canonical bytes) to this file")
    result.add_argument("--wait", action="store_true", help="wait until the result is revealed")
    result.add_argument("--timeout", type=float, default=600.0)
    add_rpc_options(result)
    result.set_defaults(handler=_result)

    listing = sub.add_parser("list", help="recent jobs")
    listing.add_argument("--submitter")
    listing.add_argument("--provider")
    listing.add_argument("--status")
    listing.add_argument(
        "--limit", type=int, default=200, help="most jobs to list, newest first (default 200)"
    )
    add_key_options(listing)
    add_rpc_options(listing)
    listing.set_defaults(handler=_list)
