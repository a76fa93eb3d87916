"""`vcoin bench NAME [--json]`: benchmarks that report a ratio against a
limit measured in the same run."""

import argparse
import json
from pathlib import Path
from typing import Any

from tools.common import CliError


def _count(text: str) -> int:
    """A whole number of blocks, 0 or more (argparse's type)."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"a whole number 0 or more, not {text!r}")
    return int(text)


def _account_counts(text: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    """--accounts N, or N,M,... for the benches that run several sizes."""
    if text is None:
        return default
    try:
        counts = tuple(int(part.replace("_", "")) for part in text.split(","))
    except ValueError:
        raise CliError(f"--accounts takes whole numbers like 10000 or 10000,100000, not {text!r}") from None
    if not counts or min(counts) < 1:
        raise CliError("--accounts must be at least 1")
    return counts


def _accounts(args: argparse.Namespace) -> int:
    counts = _account_counts(args.accounts, (5_000,))
    if len(counts) != 1:
        raise CliError(f"{args.name}: --accounts takes one number")
    return counts[0]


def _runtime(args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench import runtime_bench

    result = runtime_bench.run(accounts=_accounts(args), blocks=args.blocks, per_block=args.per_block)
    return result.to_json()


def _import(args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench import import_bench

    result = import_bench.run(accounts=_accounts(args), blocks=args.blocks, per_block=args.per_block)
    return result.to_json()


def _state(args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench import state_bench

    cache = {} if args.state_cache_mb is None else {"cache_mb": args.state_cache_mb}
    return state_bench.run(
        accounts=_account_counts(args.accounts, state_bench.SIZES), blocks=args.blocks,
        per_block=args.per_block, steady=args.steady, disk_window=0 if args.no_disk else args.disk_window,
        disk_blocks=args.disk_blocks, repeats=args.repeats, **cache,
    )  # fmt: skip


def _warp(args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench import warp_bench

    counts = _account_counts(args.accounts, (1_000_000,))
    if len(counts) != 1:
        raise CliError("warp: --accounts takes one number")
    try:
        return warp_bench.run(accounts=counts[0])
    except (RuntimeError, TimeoutError) as exc:
        raise CliError(f"warp: {exc}") from None


def _network(args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench import network_bench

    result = network_bench.run(
        sync_blocks=args.sync_blocks, finality_seconds=args.finality_seconds, flood_seconds=args.flood_seconds
    )
    return result.to_json()


def _agent(args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench import agent_bench

    try:
        return agent_bench.run(min_seconds=args.min_seconds, executor=args.executor).to_json()
    except agent_bench.AgentBenchError as exc:
        raise CliError(f"agent: {exc}") from None


def _cheat(args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench import cheat_bench, cheat_sessions

    try:
        if args.sessions:
            return cheat_sessions.run(
                requests_total=args.session_requests, per_strategy=args.providers, honest=args.honest,
                rate=args.session_rate, era_length=args.era_length,
            )  # fmt: skip
        return cheat_bench.run(jobs_total=args.jobs, per_strategy=args.providers, honest=args.honest)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _verify(args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench import verify_bench

    return verify_bench.run()


def _fuzz(args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench import fuzz_bench

    return fuzz_bench.run(cases=args.cases, seed=args.seed)


def _flood(args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench import flood_bench

    return flood_bench.run(seconds=args.seconds)


def _load(args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench import load_bench

    try:
        sweep = [int(rate) for rate in args.sweep.split(",")] if args.sweep else None
    except ValueError:
        raise CliError(f"load: --sweep takes whole rates like 100,250,500, not {args.sweep!r}") from None
    try:
        return load_bench.run(
            rate=args.rate, duration=args.duration, sweep=sweep, slot_seconds=args.slot_seconds,
            senders=args.senders, kill_one=args.kill_one, drain_slots=args.drain_slots,
            import_accounts=_accounts(args), import_blocks=args.blocks, import_per_block=args.per_block,
            keep=Path(args.keep) if args.keep else None,
        )  # fmt: skip
    except ValueError as exc:
        raise CliError(f"load: {exc}") from None


def _serve(args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench import serve_bench

    try:
        return serve_bench.run(requests=args.requests, clients=args.clients, seconds=args.serve_seconds)
    except (ValueError, RuntimeError) as exc:
        raise CliError(f"serve: {exc}") from None


def _dlora(args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench import dlora_bench

    try:
        return dlora_bench.run(
            providers=args.dlora_providers, sync_every=args.sync_every, rounds=args.rounds,
            device=args.device, backend=args.backend,
        )  # fmt: skip
    except (ValueError, RuntimeError) as exc:
        raise CliError(f"dlora: {exc}") from None


def _dashboard(args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench import dashboard_bench

    try:
        return dashboard_bench.run(blocks=args.dashboard_blocks, loads=args.loads).to_json()
    except (RuntimeError, TimeoutError) as exc:
        raise CliError(f"dashboard: {exc}") from None


BENCHES = {
    "runtime": _runtime, "import": _import, "network": _network, "agent": _agent, "cheat": _cheat,
    "verify": _verify, "fuzz": _fuzz, "flood": _flood, "load": _load,
    "serve": _serve, "dlora": _dlora,
    "dashboard": _dashboard, "state": _state, "warp": _warp,
}  # fmt: skip


def _print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"vcoin bench {result['name']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        if key != "name" and not isinstance(value, dict):
            text = (
                f"{value:,.3f}"
                if isinstance(value, float)
                else f"{value:,}"
                if isinstance(value, int)
                else str(value)
            )
            table.add_row(key, text)
    Console().print(table)
    if "rates" in result:  # load: one column per offered rate
        from tools.bench.load_bench import sweep_table

        Console().print(sweep_table(result["rates"]))
    if "goals" in result:  # state: the goals beside the figures
        goals = Table(title="goals")
        goals.add_column("figure")
        goals.add_column("goal")
        for figure, goal in result["goals"].items():
            goals.add_row(figure, goal)
        Console().print(goals)
    for nested in ("strategies", "kinds", "targets", "sizes"):
        if nested not in result:
            continue
        rows = result[nested]
        columns = list(next(iter(rows.values())))
        grid = Table(title=f"per {nested.rstrip('s')}")
        for column in [nested.rstrip("s"), *columns]:
            grid.add_column(column, justify="right")
        for name, figures in rows.items():
            grid.add_row(name, *(f"{figures[c]:,.2f}" if isinstance(figures[c], float) else str(figures[c])
                                 for c in columns))  # fmt: skip
        Console().print(grid)


def run(args: argparse.Namespace) -> int:
    result = BENCHES[args.name](args)
    if args.json:
        print(json.dumps(result))
    else:
        _print_table(result)
    return 0


def register(subcommands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subcommands.add_parser("bench", help="run a benchmark", description=__doc__)
    parser.add_argument("name", choices=sorted(BENCHES), help="which benchmark")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--accounts", metavar="N[,N...]",
        help="funded accounts in the state (default 5000); state: the sizes to run (default 10000,100000,1000000); "
        "warp: the served state's accounts (default 1000000)",
    )  # fmt: skip
    parser.add_argument(
        "--state-cache-mb",
        type=int,
        help="state: the importing node's --state-cache-mb (default: the node's)",
    )
    parser.add_argument(
        "--no-disk",
        action="store_true",
        help="state: skip the disk figures (pruning on and off; about a minute)",
    )
    parser.add_argument(
        "--disk-window", type=int, default=256, metavar="N",
        help="state: finalized states the pruned copy keeps, and blocks imported before measuring (default 256)",
    )  # fmt: skip
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        metavar="N",
        help="state: imports per size, the sizes in turn; the fastest counts (default 5)",
    )
    parser.add_argument(
        "--steady", type=_count, default=5, metavar="N",
        help="state: blocks imported after the timed ones, for the steady rate (default 5; 0 skips it)",
    )  # fmt: skip
    parser.add_argument(
        "--disk-blocks", type=int, default=100, metavar="N",
        help="state: blocks whose disk growth is measured once the window is full (default 100)",
    )  # fmt: skip
    parser.add_argument("--blocks", type=int, default=5, help="blocks to import")
    parser.add_argument("--per-block", type=int, default=2_000, help="transfers per block")
    parser.add_argument(
        "--sync-blocks", type=int, default=10_000, help="network: blocks the fresh node syncs"
    )
    parser.add_argument(
        "--finality-seconds", type=float, default=20.0, help="network: how long to sample finality lag"
    )
    parser.add_argument(
        "--flood-seconds", type=float, default=20.0, help="network: how long a peer floods junk votes"
    )
    parser.add_argument(
        "--min-seconds", type=float, default=1.0, help="agent: the bare job lasts at least this"
    )
    parser.add_argument(
        "--executor", choices=("local", "docker"), default="local",
        help="agent: the sandbox to time (docker: a warm container of vcoin/agent:latest)",
    )  # fmt: skip
    parser.add_argument("--jobs", type=int, default=20_000, help="cheat: jobs to simulate")
    parser.add_argument("--providers", type=int, default=10, help="cheat: providers per strategy")
    parser.add_argument(
        "--honest", type=int, help="cheat: honest providers (default: as many as --providers)"
    )
    parser.add_argument(
        "--sessions", action="store_true",
        help="cheat: serve requests through sessions (settled batches, sampled leaves) instead of jobs",
    )  # fmt: skip
    parser.add_argument(
        "--session-requests", type=int, default=100_000, help="cheat --sessions: user requests to simulate"
    )
    parser.add_argument(
        "--session-rate", type=int, default=1, help="cheat --sessions: requests per session per block"
    )
    parser.add_argument(
        "--era-length", type=int, default=600,
        help="cheat --sessions: blocks per era (known-answer sessions are drawn once an era)",
    )  # fmt: skip
    parser.add_argument("--cases", type=int, default=100_000, help="fuzz: cases per decoder")
    parser.add_argument(
        "--seed", type=int, default=0, help="fuzz: random seed (the same seed, the same cases)"
    )
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="flood: how long to flood (the issue's run is 300)"
    )
    parser.add_argument("--rate", type=int, default=1_000, help="load: offered transfers/s (default 1000)")
    parser.add_argument("--keep", metavar="DIR", help="load: run the net under DIR and keep its logs")
    parser.add_argument("--duration", type=float, default=300.0, help="load: seconds of load per rate")
    parser.add_argument(
        "--sweep", help="load: rates to run in turn, e.g. 100,250,500,1000 (reports the highest sustained)"
    )
    parser.add_argument("--slot-seconds", type=int, default=2, help="load: the net's slot time (default 2)")
    parser.add_argument("--senders", type=int, default=256, help="load: funded sender accounts")
    parser.add_argument(
        "--kill-one", action="store_true", help="load: kill a validator a third in, restart it at two thirds"
    )
    parser.add_argument(
        "--drain-slots", type=int, default=8, help="load: slots to wait for stragglers after the load"
    )
    parser.add_argument(
        "--requests", type=int, default=300, help="serve: sequential requests timed one by one"
    )
    parser.add_argument(
        "--serve-seconds",
        type=float,
        default=90.0,
        help="serve: seconds of concurrent load for the throughput",
    )
    parser.add_argument("--clients", type=int, default=4, help="serve: concurrent API clients (1-4)")
    parser.add_argument("--dlora-providers", type=int, default=2, help="dlora: providers sharing the job")
    parser.add_argument("--sync-every", type=int, default=50, help="dlora: local steps between exchanges (H)")
    parser.add_argument("--rounds", type=int, default=4, help="dlora: rounds (exchanges) in the job")
    parser.add_argument(
        "--device", default="cpu", help="dlora: where each provider trains (cpu, cuda, cuda:N)"
    )
    parser.add_argument(
        "--backend",
        choices=("store", "gloo", "nccl"),
        default="store",
        help="dlora: how rounds travel: the group's TCPStore (what workers use), gloo or nccl",
    )
    parser.add_argument(
        "--dashboard-blocks", type=int, default=10_000, help="dashboard: blocks in the chain the page loads"
    )
    parser.add_argument("--loads", type=int, default=5, help="dashboard: page loads timed per page")
    parser.set_defaults(handler=run)
