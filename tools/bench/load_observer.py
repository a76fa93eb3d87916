"""What `vcoin bench load` sees of the net while it runs, from outside, over
RPC: one thread per node polls its best header and health a few times a
second. A best block new to us is fetched (with its parents back to a block
we know), and every extrinsic in it counts as included from that moment.
When any node reports a higher finalized number, the finalized blocks are
read from that node by number, and their extrinsics count as finalized from
that moment. Each node's gap between best and finalized is sampled once a
second. The node logs give what RPC cannot: every block each node imported
(forks included), reorgs, and import times."""

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from node.service import short
from runtime.types import extrinsic_hash
from tools.bench.loadgen import Connection, batch_calls
from tools.client import NodeUnreachable, RpcFailure

POLL_S = 0.2
LAG_EVERY_S = 1.0


@dataclass
class NodeView:
    best: int = 0
    finalized: int = 0
    syncing: bool = False
    reachable: bool = False
    seen_at: float = 0.0


@dataclass
class Observer:
    urls: list[str]
    included: dict[bytes, float] = field(default_factory=dict)  # extrinsic -> first in a best block
    finalized_at: dict[bytes, float] = field(default_factory=dict)  # extrinsic -> its block final
    canonical: dict[int, str] = field(default_factory=dict)  # number -> finalized hash
    best_seen: set[tuple[int, str]] = field(default_factory=set)  # (number, hash) some node had as best
    lags: list[tuple[float, int, int]] = field(default_factory=list)  # (time, node, best - finalized)
    finalized_number: int = 0
    views: list[NodeView] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._block_txs: dict[str, list[bytes]] = {}  # block hash -> its extrinsics' hashes
        self._lock = threading.Lock()
        self._finality = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.views = [NodeView() for _ in self.urls]
        self.floor = 0  # blocks at or below this were there before we looked

    def start(self) -> None:
        first = Connection(self.urls[0])
        health = first.call("system_health")
        first.close()
        self.floor = int(health["bestNumber"])
        self.finalized_number = int(health["finalizedNumber"])
        for index, url in enumerate(self.urls):
            thread = threading.Thread(target=self._watch, args=(index, url), daemon=True)
            thread.start()
            self._threads.append(thread)
        deadline = time.monotonic() + 60
        while not all(view.reachable for view in self.views) and time.monotonic() < deadline:
            time.sleep(POLL_S)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    @property
    def best_number(self) -> int:
        return max((v.best for v in self.views if v.reachable), default=0)

    # -- the per-node thread ---------------------------------------------------------
    def _watch(self, index: int, url: str) -> None:
        connection = Connection(url, timeout=30.0)
        last_lag = 0.0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                header_answer, health_answer = connection.batch(
                    [("chain_getHeader", []), ("system_health", [])]
                )
                header, health = header_answer["result"], health_answer["result"]
                now = time.monotonic()
                best, final = int(health["bestNumber"]), int(health["finalizedNumber"])
                view = self.views[index]
                view.best, view.finalized, view.syncing = best, final, bool(health["isSyncing"])
                view.reachable, view.seen_at = True, now
                if now - last_lag >= LAG_EVERY_S:
                    last_lag = now
                    with self._lock:
                        self.lags.append((now, index, best - final))
                self._on_best(connection, header)
                if final > self.finalized_number:
                    self._on_finalized(connection, final)
            except (NodeUnreachable, RpcFailure, KeyError, TypeError, ValueError):
                self.views[index].reachable = False
                connection.close()
            self._stop.wait(max(0.0, POLL_S - (time.monotonic() - started)))
        connection.close()

    def _fetch(self, connection: Connection, block_hash: str) -> tuple[int, str, list[bytes]]:
        block = connection.call("chain_getBlock", block_hash)
        header = block["header"]
        hashes = [extrinsic_hash(bytes.fromhex(raw[2:])) for raw in block["extrinsics"]]
        return int(header["number"]), str(header["parentHash"]), hashes

    def _on_best(self, connection: Connection, header: dict[str, object]) -> None:
        block_hash, number = str(header["hash"]), int(str(header["number"]))
        with self._lock:
            self.best_seen.add((number, block_hash))
        new: list[tuple[str, int, list[bytes]]] = []
        cursor = block_hash
        while True:
            with self._lock:
                known = cursor in self._block_txs
            if known:
                break
            number, parent, hashes = self._fetch(connection, cursor)
            new.append((cursor, number, hashes))
            if number <= self.floor + 1:
                break
            cursor = parent
        if not new:
            return
        now = time.monotonic()
        with self._lock:
            for fetched_hash, _, hashes in new:
                for tx in hashes:
                    self.included.setdefault(tx, now)
                self._block_txs[fetched_hash] = hashes

    def _on_finalized(self, connection: Connection, final: int) -> None:
        if not self._finality.acquire(blocking=False):
            return  # another node's thread is on it
        try:
            first = self.finalized_number + 1
            if final < first:
                return
            numbers = list(range(first, final + 1))
            hashes = batch_calls(connection, "chain_getBlockHash", [[n] for n in numbers])
            if any(h is None for h in hashes):
                return  # the node moved under us: next poll
            txs: list[list[bytes]] = []
            for number, block_hash in zip(numbers, hashes, strict=True):
                with self._lock:
                    known = self._block_txs.get(block_hash)
                if known is None:
                    known = self._fetch(connection, block_hash)[2] if number > self.floor else []
                txs.append(known)
            now = time.monotonic()
            with self._lock:
                for number, block_hash, block_txs in zip(numbers, hashes, txs, strict=True):
                    self.canonical[number] = block_hash
                    self._block_txs[block_hash] = block_txs
                    for tx in block_txs:
                        self.included.setdefault(tx, now)
                        self.finalized_at.setdefault(tx, now)
                self.finalized_number = final
        finally:
            self._finality.release()

    def times_of(self, txs: Iterable[bytes]) -> tuple[dict[bytes, float], dict[bytes, float]]:
        """When each of `txs` was first included, and when finalized (those that were)."""
        with self._lock:
            wanted = list(txs)
            return (
                {tx: self.included[tx] for tx in wanted if tx in self.included},
                {tx: self.finalized_at[tx] for tx in wanted if tx in self.finalized_at},
            )

    def not_final(self, txs: Iterable[bytes]) -> int:
        with self._lock:
            return sum(1 for tx in txs if tx not in self.finalized_at)

    def lags_between(
        self, start: float, end: float, skip: Callable[[float, int], bool] | None = None
    ) -> list[int]:
        """Finality lags sampled in the window, but those `skip(at, node)` excuses."""
        with self._lock:
            return [
                lag for at, node, lag in self.lags if start <= at <= end and not (skip and skip(at, node))
            ]

    # -- after a run -------------------------------------------------------------------
    def forks_seen(self, low: int, high: int) -> set[tuple[int, str]]:
        """Blocks in (low, high] that some node had as best and that did not
        become final (as short hashes, the form the logs use)."""
        with self._lock:
            return {
                (n, short(bytes.fromhex(h[2:])))
                for n, h in self.best_seen
                if low < n <= high and n in self.canonical and self.canonical[n] != h
            }

    def canonical_short(self, number: int) -> str | None:
        with self._lock:
            found = self.canonical.get(number)
        return None if found is None else short(bytes.fromhex(found[2:]))


IMPORTED = re.compile(
    r"Imported #(\d+) \((0x[0-9a-f]+…[0-9a-f]+)\)(?: (\d+) ext in ([\d.]+) ms( \[authored\])?)?"
)
REORG = re.compile(r"Reorg replaced (\d+) blocks")


@dataclass
class LogFigures:
    blocks: set[tuple[int, str]] = field(default_factory=set)  # (number, short hash) imported anywhere
    reorgs: int = 0
    import_ms: float = 0.0  # blocks from other authors: their import times, summed
    import_txs: int = 0  # ... and their extrinsics


def log_offsets(paths: list[Path]) -> list[int]:
    return [path.stat().st_size if path.exists() else 0 for path in paths]


def read_logs(paths: list[Path], offsets: list[int]) -> LogFigures:
    """What the node logs say from `offsets` on."""
    figures = LogFigures()
    for path, offset in zip(paths, offsets, strict=True):
        if not path.exists():
            continue
        with path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", errors="replace")
        for line in text.splitlines():
            if "Imported #" in line:
                match = IMPORTED.search(line)
                if match is None:
                    continue
                figures.blocks.add((int(match[1]), match[2]))
                if match[3] is not None and match[5] is None and int(match[3]) > 0:
                    figures.import_ms += float(match[4])
                    figures.import_txs += int(match[3])
            elif "Reorg replaced" in line:
                figures.reorgs += 1
    return figures
