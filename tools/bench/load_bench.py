"""`vcoin bench load`: the network under load, as operators would run it.

A fresh 4-validator net of real node processes on 127.0.0.1 (`tools.testnet`,
`slot_seconds` slots). `senders` accounts are funded from the dev accounts
and the funding finalized; then, for each offered rate, a load generator in
a process of its own pre-signs `rate x duration` transfers (consecutive
nonces per sender) and submits them at that rate in batched JSON-RPC
requests, each sender's transfers to one node, the senders spread over all
four. Watching from outside (`tools.bench.load_observer`): when each
transfer is first in some node's best block and when its block is final,
forks, each node's finality lag, node exits; the node logs give import
times. With `kill_one`, one validator is killed (SIGKILL) a third of the
way into the run and restarted at two thirds; the generator sends its
stream to the next node while it is down, as a wallet would fail over.

Figures per rate (latencies in seconds, from the submitting request):
- `finalized_tps`: our transfers whose block became final inside the
  submission window shifted by the median finality latency, per second of
  that window (the rate the net finalizes while under load; a backlog it
  works off after the load stops does not count);
- `submitted_tps`: what the generator achieved against the nodes;
  `generator_rate` (once per run): what the same code achieves against a
  server that answers at once (its own limit, which must exceed the rate);
- `forks`: distinct blocks some node imported or had as best at a height
  that became final with another block;
- `finality_lag_*`: best - finalized in blocks, every node once a second;
- `import_ms_per_transfer`: nodes' import time of blocks from other
  authors over their transfers (from the "Imported #N ... in X ms" lines);
- `sustained`: no node exited, at least 99% of the transfers finalized by
  the end of the drain, `finalized_tps` and `submitted_tps` within 10% and
  5% of the offered rate, and a killed validator back in step.

The headline (`ratio`) is the finalized rate of the highest sustained rate
(else of the lowest rate) over the transfers per second one node imports on
one core (`tools.bench.import_bench`, measured first, in the same run).
"""

import contextlib
import math
import multiprocessing
import queue
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.constants import UNIT
from runtime.crypto import DEV_ACCOUNT_NAMES, dev_keypair, to_address
from runtime.types import Call, Extrinsic, extrinsic_hash
from tools.bench import import_bench, loadgen
from tools.bench.load_observer import Observer, log_offsets, read_logs
from tools.bench.loadgen import Connection, LoadPlan, Record, batch_calls
from tools.client import VcoinClient
from tools.procs import spawn, stop_all, wait_rpc
from tools.testnet import Plan, plan_testnet

VALIDATORS = 4
MAX_LAG = 3  # blocks between best and finalized a sustained rate may show on any node in step
PROGRESS_EVERY_S = 5.0
_began = time.monotonic()


def progress(message: str) -> None:
    print(f"[load {time.monotonic() - _began:7.1f}s] {message}", file=sys.stderr, flush=True)


def batch_size(rate: int) -> int:
    """Transfers per request: each node gets about ten requests a second."""
    return max(1, min(loadgen.MAX_RPC_BATCH, math.ceil(rate / (10 * VALIDATORS))))


def percentile(values: list[float], pct: float) -> float:
    """Nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(len(ordered) * pct / 100) - 1))]


@dataclass
class Net:
    """The validators' processes, which may be killed and restarted one at a time."""

    plan: Plan
    root: Path
    procs: list[Any] = field(default_factory=list)
    killed: set[int] = field(default_factory=set)  # on purpose
    exits: dict[int, int] = field(default_factory=dict)  # on their own: index -> status

    @property
    def urls(self) -> list[str]:
        return [node.rpc_url for node in self.plan.nodes]

    @property
    def logs(self) -> list[Path]:
        return [self.root / f"node-{i + 1}.log" for i in range(len(self.plan.nodes))]

    def start(self) -> None:
        self.procs = [spawn(self.plan.command(i), log) for i, log in enumerate(self.logs)]
        for node, proc in zip(self.plan.nodes, self.procs, strict=True):
            wait_rpc(node.rpc_url, proc, timeout=180)

    def kill(self, index: int) -> None:
        self.killed.add(index)
        self.procs[index].kill()
        self.procs[index].wait()

    def restart(self, index: int) -> None:
        self.procs[index] = spawn(self.plan.command(index), self.logs[index])
        self.killed.discard(index)

    def exited(self) -> dict[int, int]:
        """Nodes newly found stopped on their own: index -> exit status (each
        is also kept in `exits`, and stays down)."""
        found = {
            i: proc.returncode for i, proc in enumerate(self.procs)
            if i not in self.killed and i not in self.exits and proc.poll() is not None
        }  # fmt: skip
        self.exits.update(found)
        return found

    def stop(self) -> None:
        stop_all(self.procs)


def _wait(what: str, predicate: Any, timeout: float, poll: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if predicate():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(poll)


def _fund(net: Net, chain_id: bytes, senders: int, amount: int, slot_seconds: int) -> None:
    """Every sender gets `amount` from the dev accounts; returns once final."""
    connection = Connection(net.urls[0])
    funders = [dev_keypair(name) for name in DEV_ACCOUNT_NAMES]
    nonces = [
        int(n) for n in batch_calls(connection, "system_accountNextIndex", [[f.address] for f in funders])
    ]
    raws: list[bytes] = []
    for index, key in enumerate(loadgen.sender_keys(senders)):
        funder = index % len(funders)
        call = Call("balances", "transfer", {"to": key.public, "amount": amount})
        raws.append(Extrinsic.sign(funders[funder], chain_id, nonces[funder], call).encode())
        nonces[funder] += 1
    answers = batch_calls(connection, "author_submitExtrinsic", [["0x" + raw.hex()] for raw in raws])
    if any(answer is None for answer in answers):
        raise RuntimeError("the node refused a funding transfer")
    hashes = [[("0x" + extrinsic_hash(raw).hex())] for raw in raws]

    def final() -> bool:
        statuses = batch_calls(connection, "vcoin_extrinsic", hashes)
        return all(s is not None and s["status"] == "finalized" and s["success"] for s in statuses)

    _wait("the funding transfers finalized", final, 60 + 40 * slot_seconds)
    connection.close()


@dataclass
class KillPlan:
    """One validator killed at `kill_at` and started again at `restart_at`."""

    node: int
    kill_at: float
    restart_at: float
    state: str = "up"  # up -> leaving -> down -> rejoining -> back
    leave_at: float = 0.0
    restarted_at: float = 0.0
    rejoined_after: float = -1.0

    def step(self, net: Net, observer: Observer, up: Any, now: float) -> None:
        if self.state == "up" and now >= self.kill_at:
            up[self.node] = 0  # no new batches for it; those in flight finish
            self.state, self.leave_at = "leaving", now + 0.5
        elif self.state == "leaving" and now >= self.leave_at:
            net.kill(self.node)
            progress(f"killed validator node-{self.node + 1} (SIGKILL)")
            self.state = "down"
        elif self.state == "down" and now >= self.restart_at:
            net.restart(self.node)
            progress(f"restarted node-{self.node + 1}")
            self.state, self.restarted_at = "rejoining", now
        elif self.state == "rejoining":
            view = observer.views[self.node]
            in_step = view.best >= observer.best_number - 1 and view.best - view.finalized <= MAX_LAG
            if view.reachable and not view.syncing and in_step:
                up[self.node] = 1
                self.rejoined_after = now - self.restarted_at
                progress(f"node-{self.node + 1} back in step after {self.rejoined_after:.1f} s")
                self.state = "back"

    @property
    def settled(self) -> bool:
        return self.state == "back"

    def away(self, at: float, node: int) -> bool:
        """Whether `node` was the one down or catching up at `at` (its lag then is expected)."""
        if node != self.node or at < self.kill_at:
            return False
        return self.state != "back" or at <= self.restarted_at + self.rejoined_after


@dataclass
class RunState:
    """What the generator reported, as it came."""

    sent_at: dict[bytes, float] = field(default_factory=dict)
    accepted: set[bytes] = field(default_factory=set)
    refused: int = 0
    stats: dict[str, Any] | None = None

    def take(self, out: Any) -> None:
        while True:
            try:
                item = out.get_nowait()
            except queue.Empty:
                return
            if item[0] == "done":
                self.stats = item[1]
                continue
            record: Record = item
            _, sent_at, results = record
            for tx, code in results:
                self.sent_at.setdefault(tx, sent_at)
                if code == 0:
                    self.accepted.add(tx)
                else:
                    self.refused += 1


def _rate_row(
    rate: int, duration: float, interval: float, run: RunState, observer: Observer, window: tuple[float, float],
    low: int, net: Net, offsets: list[int], kill: KillPlan | None,
) -> dict[str, Any]:  # fmt: skip
    stats = run.stats or {}
    t0, t_end = window
    sent = len(run.sent_at)
    included, finalized = observer.times_of(run.sent_at)
    lags = observer.lags_between(t0, t_end, None if kill is None else kill.away)
    inclusion = [max(0.0, at - run.sent_at[tx]) for tx, at in included.items()]
    finality = [max(0.0, at - run.sent_at[tx]) for tx, at in finalized.items()]
    first, last = float(stats.get("first_sent", t0)), float(stats.get("last_sent", t0))
    span = last - first + interval  # the last batch's share of the schedule too
    shift = percentile(finality, 50)
    in_window = sum(1 for at in finalized.values() if first + shift <= at < first + shift + span)
    logs = read_logs(net.logs, offsets)
    final = observer.finalized_number
    seen = logs.blocks | observer.forks_seen(low, final)
    forks = len(
        {(n, h) for n, h in seen if low < n <= final and observer.canonical_short(n) not in (None, h)}
    )
    minutes = max(t_end - t0, 1e-6) / 60
    finalized_tps = in_window / span if sent > 1 else 0.0
    submitted_tps = float(stats.get("sent", sent)) / span if sent > 1 else 0.0
    offered = round(rate * duration) / duration
    reasons: dict[str, int] = stats.get("reasons", {})
    row: dict[str, Any] = {
        "offered_tps": float(offered), "submitted_tps": submitted_tps, "finalized_tps": finalized_tps,
        "submitted": sent, "accepted": len(run.accepted), "refused": run.refused,
        "included": len(included), "finalized": len(finalized),
        "inclusion_p50": percentile(inclusion, 50), "inclusion_p99": percentile(inclusion, 99),
        "finality_p50": shift, "finality_p99": percentile(finality, 99),
        "finality_lag_max": max(lags, default=0), "finality_lag_p99": percentile([float(x) for x in lags], 99),
        "forks": forks, "forks_per_minute": forks / minutes, "reorgs": logs.reorgs,
        "import_ms_per_transfer": logs.import_ms / logs.import_txs if logs.import_txs else 0.0,
        "nodes_exited": len(net.exits), "generator_late_max_s": float(stats.get("max_late", 0.0)),
        "rerouted": int(stats.get("rerouted", 0)),
        "killed_node": -1 if kill is None else kill.node + 1,
        "rejoined_after_s": 0.0 if kill is None else kill.rejoined_after,
        "top_refusal": next(iter(reasons), ""),
    }  # fmt: skip
    row["sustained"] = bool(
        not net.exits and sent and len(finalized) >= 0.99 * sent and finalized_tps >= 0.9 * offered
        and submitted_tps >= 0.95 * offered and (kill is None or kill.settled)
        and max(lags, default=0) <= MAX_LAG
    )  # fmt: skip
    return row


def _run_rate(
    net: Net, observer: Observer, chain_id: bytes, rate: int, duration: float, senders: int,
    slot_seconds: int, drain_slots: int, kill_node: int | None,
) -> dict[str, Any]:  # fmt: skip
    live = next((i for i, view in enumerate(observer.views) if view.reachable), 0)
    connection = Connection(net.urls[live])
    addresses = [[to_address(key.public)] for key in loadgen.sender_keys(senders)]
    nonces = tuple(int(n) for n in batch_calls(connection, "system_accountNextIndex", addresses))
    connection.close()
    total = max(1, round(rate * duration))
    batch = batch_size(rate)
    plan = LoadPlan(chain_id, senders, nonces, tuple(net.urls), total, duration, batch)
    ctx = multiprocessing.get_context("spawn")
    out, go, start_at = ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
    up = ctx.Array("b", [1] * VALIDATORS)
    generator = ctx.Process(target=loadgen.generator_process, args=(plan, out, go, start_at, up), daemon=True)
    progress(f"rate {rate}/s: pre-signing {total} transfers from {senders} senders")
    generator.start()
    try:
        return _drive(net, observer, generator, out, go, start_at, up, rate, duration, batch, slot_seconds,
                      drain_slots, kill_node)  # fmt: skip
    finally:
        if generator.is_alive():
            generator.terminate()
        generator.join(10)


def _drive(
    net: Net, observer: Observer, generator: Any, out: Any, go: Any, start_at: Any, up: Any, rate: int,
    duration: float, batch: int, slot_seconds: int, drain_slots: int, kill_node: int | None,
) -> dict[str, Any]:  # fmt: skip
    deadline = time.monotonic() + 600 + rate * duration / 5_000
    while True:
        with contextlib.suppress(queue.Empty):
            ready = out.get(timeout=1.0)
            break
        if not generator.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the load generator did not get ready")
    progress(f"rate {rate}/s: {ready[1]} transfers signed; submitting for {duration:.0f} s")
    offsets = log_offsets(net.logs)
    low = observer.finalized_number
    t0 = time.monotonic() + 0.2
    start_at.value = t0
    go.set()
    kill = None
    if kill_node is not None:
        kill = KillPlan(kill_node, t0 + duration / 3, t0 + 2 * duration / 3)
    run = RunState()
    next_progress = t0 + PROGRESS_EVERY_S
    drain_until = math.inf
    while True:
        now = time.monotonic()
        run.take(out)
        for index, status in net.exited().items():
            progress(f"node-{index + 1} EXITED with status {status}")
        for index in net.exits:
            up[index] = 0
        if kill is not None:
            kill.step(net, observer, up, now)
        if run.stats is not None and drain_until == math.inf:
            drain_until = now + drain_slots * slot_seconds
            progress(f"rate {rate}/s: submission over; draining up to {drain_slots} slots")
        if now >= next_progress:
            next_progress = now + PROGRESS_EVERY_S
            _report(rate, run, observer, now - t0)
        if run.stats is None and not generator.is_alive():
            raise RuntimeError(f"the load generator exited with status {generator.exitcode}")
        settled = kill is None or kill.settled
        if run.stats is not None and (
            now >= drain_until or (settled and observer.not_final(run.accepted) == 0)
        ):
            break
        time.sleep(0.2)
    t_end = time.monotonic()
    _report(rate, run, observer, t_end - t0)
    troubled = set(net.exits) | ({kill.node} if kill is not None and not kill.settled else set())
    for index in sorted(troubled):
        _log_tail(net.logs[index])
    interval = duration / math.ceil(rate * duration / VALIDATORS / batch)
    return _rate_row(rate, duration, interval, run, observer, (t0, t_end), low, net, offsets, kill)


def _log_tail(path: Path, lines: int = 20) -> None:
    """The end of a node's log on stderr (the net's directory goes at the end)."""
    with contextlib.suppress(OSError):
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        progress(f"last {len(tail)} lines of {path.name}:\n" + "\n".join("    " + line for line in tail))


def _report(rate: int, run: RunState, observer: Observer, elapsed: float) -> None:
    sent = len(run.sent_at)
    ours_final = sent - observer.not_final(run.sent_at)
    views = observer.views
    heads = " ".join(f"#{v.best}/{v.finalized}" if v.reachable else "down" for v in views)
    progress(
        f"rate {rate}/s t={elapsed:5.0f}s: sent {sent} ({sent / max(elapsed, 1e-6):.0f}/s) "
        f"refused {run.refused} finalized {ours_final} | best/final {heads}"
    )


def sweep_table(rows: dict[str, dict[str, Any]]) -> Any:
    """The sweep for people: one column per offered rate, one line per figure."""
    from rich.table import Table

    table = Table(title="per offered rate (transfers/s; latencies in s; lag in blocks)")
    table.add_column("figure")
    for rate in rows:
        table.add_column(f"{rate}/s", justify="right")
    for key in next(iter(rows.values())):
        cells = [row[key] for row in rows.values()]
        table.add_row(key, *(f"{v:,.2f}" if isinstance(v, float) else str(v) for v in cells))
    return table


def _headline(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    sustained = [row for row in rows.values() if row["sustained"]]
    if sustained:
        return max(sustained, key=lambda row: row["offered_tps"])
    return min(rows.values(), key=lambda row: row["offered_tps"])


@contextlib.contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="vcoin-bench-load-") as tmp:
        yield Path(tmp)


def run(
    rate: int = 1_000, duration: float = 300.0, sweep: list[int] | None = None, slot_seconds: int = 2,
    senders: int = 256, kill_one: bool = False, drain_slots: int = 8, import_accounts: int = 5_000,
    import_blocks: int = 5, import_per_block: int = 2_000, keep: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """`keep`: run the net under this directory and leave its logs there."""
    global _began
    _began = time.monotonic()
    rates = sweep or [rate]
    if any(r <= 0 for r in rates) or duration <= 0 or senders < VALIDATORS:
        raise ValueError(f"rates and --duration must be positive, --senders at least {VALIDATORS}")
    progress(f"single-node import baseline ({import_blocks} blocks of {import_per_block} transfers)")
    baseline = import_bench.run(accounts=import_accounts, blocks=import_blocks, per_block=import_per_block)
    import_tps = baseline.transfers_per_s
    progress(f"one node imports {import_tps:,.0f} transfers/s; measuring the generator's own limit")
    generator_rate = loadgen.capacity(streams=VALIDATORS, batch=batch_size(max(rates)))
    progress(f"the generator submits up to {generator_rate:,.0f} transfers/s on its own")
    rows: dict[str, dict[str, Any]] = {}
    with _workdir(keep) as root:
        net = Net(plan_testnet(root / "net", VALIDATORS, slot_seconds=slot_seconds), root)
        observer = Observer(net.urls)
        try:
            progress(f"starting {VALIDATORS} validators ({slot_seconds} s slots) under {root}")
            net.start()
            client = VcoinClient(net.urls[0], timeout=30)
            _wait("the net finalizing", lambda: client.call("system_health")["finalizedNumber"] >= 1,
                  120 + 30 * slot_seconds)  # fmt: skip
            chain_id = client.chain_id()
            per_sender = sum(math.ceil(r * duration / senders) for r in rates)
            progress(f"funding {senders} senders")
            _fund(net, chain_id, senders, UNIT + per_sender * UNIT // 100, slot_seconds)
            observer.start()
            for index, offered in enumerate(rates):
                kill_node = (VALIDATORS - 1 - index) % VALIDATORS if kill_one else None
                rows[str(offered)] = _run_rate(net, observer, chain_id, offered, duration, senders,
                                               slot_seconds, drain_slots, kill_node)  # fmt: skip
                row = rows[str(offered)]
                progress(
                    f"rate {offered}/s: finalized {row['finalized']}/{row['submitted']} at "
                    f"{row['finalized_tps']:.1f}/s, sustained: {row['sustained']}"
                )
        finally:
            observer.stop()
            net.stop()
    head = _headline(rows)
    sustained = [row["offered_tps"] for row in rows.values() if row["sustained"]]
    figures = ("finalized_tps", "offered_tps", "submitted_tps", "inclusion_p50", "inclusion_p99", "finality_p50",
               "finality_p99", "forks_per_minute", "finality_lag_max", "finality_lag_p99",
               "import_ms_per_transfer", "finalized", "submitted")  # fmt: skip
    return {
        "name": "load", "ratio": head["finalized_tps"] / import_tps,
        **{key: head[key] for key in figures},
        "generator_rate": generator_rate, "nodes_exited": len(net.exits),
        "sustained_tps": max(sustained, default=0.0), "import_tps": import_tps, "slot_seconds": slot_seconds,
        "duration": duration, "senders": senders, "kill_one": kill_one, "rates": rows,
    }  # fmt: skip
