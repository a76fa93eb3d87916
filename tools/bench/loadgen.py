"""The load generator of `vcoin bench load`, run in a process of its own.

It signs every transfer before the clock starts (many sender accounts, each
with consecutive nonces), then submits them at a fixed offered rate in
batched JSON-RPC requests over kept-alive HTTP connections, one stream per
node. A sender's transfers always go to the same node, in nonce order, so
no node sees a gap it did not cause itself. A node marked down (by the
bench, or because it stopped answering) has its stream sent to the next one.

`capacity` measures how fast this same code submits with nobody slowing it
down: against a sink server (another process) that answers every batch at
once. That is the generator's own limit, reported beside the offered rate.
"""

import contextlib
import http.client
import json
import math
import multiprocessing
import socket
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from runtime.crypto import Keypair, dev_keypair
from runtime.types import Call, Extrinsic, extrinsic_hash
from tools.client import NodeUnreachable, RpcFailure

MAX_RPC_BATCH = 100  # node/rpc.py refuses larger batches
TX_ALREADY_IMPORTED = 1013  # a retried batch: the node (or gossip) already has it
DOWN_AFTER_FAILURE_S = 2.0


def sender_keys(count: int) -> list[Keypair]:
    return [dev_keypair(f"load-{index}") for index in range(count)]


class Connection:
    """One kept-alive HTTP connection to a node's JSON-RPC."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        self.url = url
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _post(self, body: bytes) -> Any:
        for attempt in range(2):
            reused = self._conn is not None
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request("POST", "/", body, {"content-type": "application/json"})
                response = self._conn.getresponse()
                data = response.read()
            except (http.client.HTTPException, OSError) as exc:
                self.close()
                if attempt == 0 and reused and not isinstance(exc, socket.timeout):
                    continue  # the server closed an idle kept-alive connection: once more
                raise NodeUnreachable(f"no node reachable at {self.url} ({exc!r})") from None
            try:
                return json.loads(data)
            except ValueError:
                raise RpcFailure(response.status, f"HTTP {response.status}: not JSON") from None
        raise AssertionError("unreachable")

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """Answers (each with `result` or `error`) in the order of `calls`."""
        body = json.dumps(
            [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        ).encode()
        answer = self._post(body)
        if isinstance(answer, dict):  # the whole batch refused
            error = answer.get("error") or {"code": -1, "message": "not a batch answer"}
            return [{"error": error} for _ in calls]
        by_id = {item.get("id"): item for item in answer if isinstance(item, dict)}
        missing = {"error": {"code": -1, "message": "no answer"}}
        return [by_id.get(i, missing) for i in range(len(calls))]

    def call(self, method: str, *params: Any) -> Any:
        (answer,) = self.batch([(method, list(params))])
        if "error" in answer:
            error = answer["error"]
            raise RpcFailure(int(error.get("code", 0)), str(error.get("message", "unknown error")))
        return answer.get("result")


def batch_calls(connection: Connection, method: str, params: Sequence[list[Any]]) -> list[Any]:
    """`method` for each params list, in batches the node accepts; results in
    order (None where the node answered an error)."""
    results: list[Any] = []
    for start in range(0, len(params), MAX_RPC_BATCH):
        answers = connection.batch([(method, p) for p in params[start : start + MAX_RPC_BATCH]])
        results += [a.get("result") if "error" not in a else None for a in answers]
    return results


@dataclass(frozen=True)
class LoadPlan:
    """What one generator run sends: `total` transfers over `duration` s."""

    chain_id: bytes
    senders: int  # accounts load-0 .. load-(senders-1), all funded
    nonces: tuple[int, ...]  # each sender's next nonce
    urls: tuple[str, ...]  # one stream per node
    total: int
    duration: float
    batch: int

    @property
    def per_sender(self) -> int:
        return math.ceil(self.total / self.senders)


Signed = tuple[bytes, str]  # (extrinsic hash, "0x" hex for author_submitExtrinsic)


def presign(plan: LoadPlan) -> list[list[Signed]]:
    """One stream per node: its senders' transfers, interleaved nonce by
    nonce; the streams hold `plan.total` transfers between them."""
    keys = sender_keys(plan.senders)
    nodes = len(plan.urls)
    streams: list[list[Signed]] = [[] for _ in range(nodes)]
    for round_ in range(plan.per_sender):
        for index, key in enumerate(keys):
            to = keys[(index + 1) % len(keys)].public
            call = Call("balances", "transfer", {"to": to, "amount": 1})
            raw = Extrinsic.sign(key, plan.chain_id, plan.nonces[index] + round_, call).encode()
            streams[index % nodes].append((extrinsic_hash(raw), "0x" + raw.hex()))
    # Keep `total` in all: the same share of it from every stream, each a prefix.
    sizes = [plan.total * len(s) // max(1, plan.senders * plan.per_sender) for s in streams]
    for index in range(plan.total - sum(sizes)):
        sizes[index % nodes] += 1
    return [stream[:size] for stream, size in zip(streams, sizes, strict=True)]


Record = tuple[int, float, list[tuple[bytes, int]]]  # (node, sent at, [(hash, error code or 0)])


class Pump:
    """Sends the streams, one thread each, paced or as fast as it can."""

    def __init__(self, urls: Sequence[str], up: Any = None) -> None:
        self.urls = list(urls)
        self.up = up  # shared flags: 1 where the bench lets us send to the node
        self.failed_until = [0.0] * len(urls)
        self.lock = threading.Lock()
        self.sent = self.accepted = 0
        self.reasons: Counter[str] = Counter()
        self.first_sent = math.inf
        self.last_sent = 0.0
        self.busy = 0.0
        self.max_late = 0.0
        self.rerouted = 0

    def _route(self, own: int, now: float) -> int:
        count = len(self.urls)
        for step in range(count):
            node = (own + step) % count
            if (self.up is None or self.up[node]) and self.failed_until[node] <= now:
                return node
        return own

    def send(self, connections: list[Connection], own: int, chunk: list[Signed]) -> Record:
        calls = [("author_submitExtrinsic", [hex_]) for _, hex_ in chunk]
        tried: set[int] = set()
        while True:
            now = time.monotonic()
            node = self._route(own, now)
            if node in tried:  # every node failed this batch: count it as refused
                return own, now, [(h, -2) for h, _ in chunk]
            tried.add(node)
            try:
                answers = connections[node].batch(calls)
            except NodeUnreachable:
                self.failed_until[node] = time.monotonic() + DOWN_AFTER_FAILURE_S
                continue
            if node != own:
                with self.lock:
                    self.rerouted += len(chunk)
            codes = []
            for answer in answers:
                error = answer.get("error")
                code = 0 if error is None else int(error.get("code", -1))
                if code == TX_ALREADY_IMPORTED:
                    code = 0
                elif code:
                    with self.lock:
                        self.reasons[str(error.get("message", ""))[:60] if error else ""] += 1
                codes.append(code)
            return node, now, [(h, c) for (h, _), c in zip(chunk, codes, strict=True)]

    def run_stream(
        self, own: int, stream: list[Signed], batch: int, start: float, duration: float, out: Any,
        until: float | None = None,
    ) -> None:  # fmt: skip
        """Batch k of the stream is due at start + k * duration / batches (a late
        one goes at once). With `until`: cycle the stream, unpaced, until then."""
        connections = [Connection(url) for url in self.urls]
        batches = [stream[i : i + batch] for i in range(0, len(stream), batch)]
        interval = duration / max(1, len(batches))
        k = 0
        try:
            while k < len(batches) if until is None else time.monotonic() < until:
                chunk = batches[k % len(batches)]
                due = start + k * interval
                k += 1
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                began = time.monotonic()
                record = self.send(connections, own, chunk)
                ended = time.monotonic()
                accepted = sum(1 for _, code in record[2] if code == 0)
                with self.lock:
                    self.sent += len(chunk)
                    self.accepted += accepted
                    self.first_sent = min(self.first_sent, record[1])
                    self.last_sent = max(self.last_sent, record[1])
                    self.busy += ended - began
                    self.max_late = max(self.max_late, began - due)
                if out is not None:
                    out.put(record)
        finally:
            for connection in connections:
                connection.close()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            span = self.last_sent - self.first_sent if self.sent else 0.0
            return {
                "sent": self.sent, "accepted": self.accepted, "refused": self.sent - self.accepted,
                "reasons": dict(self.reasons.most_common(5)), "first_sent": self.first_sent if self.sent else 0.0,
                "last_sent": self.last_sent, "span": span, "busy": self.busy, "max_late": self.max_late,
                "rerouted": self.rerouted,
            }  # fmt: skip


def generator_process(plan: LoadPlan, out: Any, go: Any, start_at: Any, up: Any) -> None:
    """Process entry: pre-sign, say ("ready", n), wait for `go`, send, say ("done", stats)."""
    streams = presign(plan)
    out.put(("ready", sum(len(s) for s in streams)))
    go.wait()
    pump = Pump(plan.urls, up)
    threads = [
        threading.Thread(
            target=pump.run_stream, args=(i, s, plan.batch, start_at.value, plan.duration, out), daemon=True
        )
        for i, s in enumerate(streams)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(("done", pump.stats()))


# -- the generator's own limit -----------------------------------------------------


class _SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep connections alive, as the node does
    disable_nagle_algorithm = True  # headers and body go in two writes

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        requests = json.loads(body)
        answer = json.dumps([{"jsonrpc": "2.0", "id": r["id"], "result": "0x00"} for r in requests]).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def sink_process(port_out: Any) -> None:
    """Process entry: a JSON-RPC server that answers every call at once."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SinkHandler)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever()


def _capacity_run(url: str, streams: int, batch: int, seconds: float, out: Any) -> None:
    """Process entry: send pre-signed transfers unpaced for `seconds`."""
    plan = LoadPlan(bytes(32), streams * 8, tuple([0] * streams * 8), tuple([url] * streams),
                    total=streams * 8 * 40, duration=0.0, batch=batch)  # fmt: skip
    signed = presign(plan)
    pump = Pump(plan.urls)
    start = time.monotonic()
    threads = [
        threading.Thread(
            target=pump.run_stream, args=(i, signed[i], batch, start, 0.0, None, start + seconds), daemon=True
        )
        for i in range(streams)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(pump.stats()["sent"] / (time.monotonic() - start))


def capacity(streams: int = 4, batch: int = 25, seconds: float = 3.0) -> float:
    """Transfers per second the generator submits to a sink that costs it nothing."""
    ctx = multiprocessing.get_context("spawn")
    port_out, rate_out = ctx.Queue(), ctx.Queue()
    sink = ctx.Process(target=sink_process, args=(port_out,), daemon=True)
    sink.start()
    try:
        url = f"http://127.0.0.1:{port_out.get(timeout=60)}"
        runner = ctx.Process(target=_capacity_run, args=(url, streams, batch, seconds, rate_out), daemon=True)
        runner.start()
        rate = float(rate_out.get(timeout=120 + seconds))
        runner.join(10)
        return rate
    finally:
        sink.terminate()
        sink.join(10)
        with contextlib.suppress(Exception):
            port_out.close()
