"""The running node: storage, chain, pool, RPC and metrics servers, and the
slot loop that authors blocks when this node's validator key is due."""

import contextlib
import logging
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from consensus.slots import expected_author, slot_at, slot_start
from genesis.spec import ChainSpec
from node.chain import BlockImportError, Chain, ImportedBlock
from node.http import rpc_app, serve_app, with_lifespan
from node.metrics import Metrics
from node.p2p import RESPONSE_BUDGET, Network
from node.rpc import RpcHandler
from node.rpc_methods import build_methods
from node.storage import ChainStore
from node.txpool import PoolError, TxPool
from runtime.crypto import Keypair, to_address
from runtime.types import extrinsic_hash

log = logging.getLogger("vcoin.node")
INFORMANT_SECONDS = 5.0
SYNC_BATCH = 64


@dataclass
class NodeConfig:
    spec: ChainSpec
    base_path: Path
    dev: bool = False
    validator_key: Keypair | None = None
    rpc_host: str = "127.0.0.1"
    rpc_port: int = 9944
    prometheus_host: str = "127.0.0.1"
    prometheus_port: int | None = 9615
    p2p_port: int = 30333
    max_rpc_body: int = 1024 * 1024
    worker: bool = False
    bootnodes: list[str] = field(default_factory=list)
    p2p_host: str = "127.0.0.1"
    network: bool = True


def short(block_hash: bytes) -> str:
    return f"0x{block_hash[:4].hex()}…{block_hash[-2:].hex()}"


class Node:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.store = ChainStore(config.base_path / "db")
        try:
            self.chain = Chain(self.store, config.spec, instant_finality=config.dev)
        except BaseException:
            self.store.close()
            raise
        self.pool = TxPool()
        self.syncing = False
        self.network: Network | None = None
        if config.network:
            self.network = Network(
                config.base_path, self.chain.genesis.hash, config.p2p_host, config.p2p_port,
                config.bootnodes, self._blocks_from,
            )  # fmt: skip
        self.metrics = Metrics()
        self.rpc = RpcHandler(build_methods(self))
        self._update_gauges()

    # -- facts the RPC reports -------------------------------------------
    def peer_count(self) -> int:
        return 0 if self.network is None else len(self.network.peers())

    def is_syncing(self) -> bool:
        return self.syncing

    def local_peer_id(self) -> str | None:
        return None if self.network is None else self.network.peer_id

    def listen_addresses(self) -> list[str]:
        return [] if self.network is None else self.network.addresses()

    def _blocks_from(self, start: int, count: int) -> list[bytes]:
        blocks: list[bytes] = []
        size = 0
        for number in range(start, start + count):
            block_hash = self.chain.store.hash_at(number)
            block = None if block_hash is None else self.chain.store.block(block_hash)
            if block is None:
                break
            raw = block.encode()
            size += len(raw)
            if blocks and size > RESPONSE_BUDGET:
                break
            blocks.append(raw)
        return blocks

    # -- transactions and blocks -------------------------------------------
    def submit_extrinsic(self, raw: bytes) -> bytes:
        try:
            tx_hash = self.pool.submit(self.chain.state, raw)
        except PoolError:
            self.metrics.rejected.inc()
            raise
        self.metrics.txpool.set(len(self.pool))
        return tx_hash

    def author_slot(self, slot: int) -> ImportedBlock | None:
        key = self.config.validator_key
        if key is None or slot <= self.chain.best.slot:
            return None
        if expected_author(slot, self.chain.validators()) != key.public:
            return None
        candidates = list(self.pool.ready(self.chain.state))
        imported, rejected = self.chain.author_block(key, slot, candidates)
        self.pool.remove([extrinsic_hash(raw) for raw, _ in rejected])
        for raw, reason in rejected:
            log.debug("dropped %s from the pool: %s", short(extrinsic_hash(raw)), reason)
        self._after_block(imported)
        return imported

    def _after_block(self, imported: ImportedBlock) -> None:
        block = imported.block
        if not imported.best:
            log.info(
                "Imported #%d (%s) on a fork; best stays #%d",
                block.header.number,
                short(block.hash),
                self.chain.best.number,
            )
            return
        self.pool.remove([extrinsic_hash(raw) for raw in block.extrinsics])
        self.pool.prune(self.chain.state)
        self.metrics.imported.inc()
        self.metrics.extrinsics.inc(len(block.extrinsics))
        self.metrics.import_time.observe(imported.millis / 1e3)
        self._update_gauges()
        log.info(
            "Imported #%d (%s) %d ext in %.1f ms%s",
            block.header.number,
            short(block.hash),
            len(block.extrinsics),
            imported.millis,
            " [authored]" if imported.authored else "",
        )

    def _update_gauges(self) -> None:
        self.metrics.best.set(self.chain.best.number)
        finalized = self.chain.store.header(self.chain.finalized_hash)
        self.metrics.finalized.set(finalized.number if finalized else 0)
        self.metrics.txpool.set(len(self.pool))
        self.metrics.peers.set(self.peer_count())

    # -- the loops -----------------------------------------------------------
    async def _slot_loop(self) -> None:
        seconds = self.chain.spec.params.slot_seconds
        while True:
            slot = slot_at(time.time(), seconds)
            self.author_slot(slot)
            wait = slot_start(slot + 1, seconds) - time.time()
            await trio.sleep(max(wait, 0.0))

    async def _sync_loop(self) -> None:
        assert self.network is not None
        poll = max(self.chain.spec.params.slot_seconds / 4, 0.25)
        while True:
            await self.network.connect_bootnodes()
            fetched = 0
            for peer in self.network.peers():
                try:
                    blocks = await self.network.request_blocks(peer, self.chain.best.number + 1, SYNC_BATCH)
                except Exception as exc:
                    log.debug("sync from %s failed: %s", peer, exc)
                    continue
                for block in blocks:
                    try:
                        imported = self.chain.import_block(block)
                    except BlockImportError as exc:
                        log.warning("refused block #%d from %s: %s", block.header.number, peer, exc)
                        break
                    self._after_block(imported)
                    fetched += 1
            self.syncing = fetched >= SYNC_BATCH
            if not self.syncing:
                await trio.sleep(poll)

    async def _informant(self) -> None:
        while True:
            await trio.sleep(INFORMANT_SECONDS)
            finalized = self.chain.store.header(self.chain.finalized_hash)
            log.info(
                "Idle (%d peers), best: #%d (%s), finalized #%d, %d txs in pool",
                self.peer_count(),
                self.chain.best.number,
                short(self.chain.best.hash),
                finalized.number if finalized else 0,
                len(self.pool),
            )

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        cfg = self.config
        log.info("Chain %s (%s), genesis %s", cfg.spec.name, cfg.spec.id, short(self.chain.genesis.hash))
        log.info(
            "Database at %s, best #%d (%s)",
            cfg.base_path,
            self.chain.best.number,
            short(self.chain.best.hash),
        )
        if cfg.validator_key is not None:
            log.info("Authoring as %s", to_address(cfg.validator_key.public))
        try:
            async with self._network_running(), trio.open_nursery() as nursery:
                if self.network is not None:
                    log.info("p2p listening as %s", self.network.addresses()[0])
                    nursery.start_soon(self._sync_loop)
                app = rpc_app(self.rpc, cfg.max_rpc_body)
                await nursery.start(serve_app, app, cfg.rpc_host, cfg.rpc_port, "JSON-RPC")
                if cfg.prometheus_port is not None:
                    metrics = with_lifespan(self.metrics.asgi_app())
                    await nursery.start(
                        serve_app, metrics, cfg.prometheus_host, cfg.prometheus_port, "Prometheus"
                    )
                nursery.start_soon(self._slot_loop)
                nursery.start_soon(self._informant)
                nursery.start_soon(self._signals, nursery.cancel_scope)
                task_status.started()
        finally:
            self.store.close()
            log.info("Stopped; database closed cleanly at #%d", self.chain.best.number)

    def _network_running(self) -> Any:
        if self.network is None:
            return contextlib.nullcontext()
        return self.network.host.run(listen_addrs=[self.network.listen])

    async def _signals(self, scope: trio.CancelScope) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("Received %s, shutting down", signal.Signals(signum).name)
                scope.cancel()
                return
