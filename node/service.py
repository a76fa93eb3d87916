"""The running node: storage, chain, pool, finality gadget, network, RPC and
metrics servers, and the slot loop that authors blocks when this node's
validator key is due.

Its parts (block sync, the RPC namespaces, the workers' chain view) are given
the node typed as the small protocols of `node.abc` and never import this
module: `Node` is the one place that satisfies them all."""

import contextlib
import logging
import signal
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import trio

from consensus.slots import expected_author, slot_at, slot_start, verify_seal
from consensus.votebook import Outcome
from genesis.spec import ChainSpec
from node import library_logs
from node.api import OpenAiApi
from node.api_keys import DEFAULT_DIR as DEFAULT_KEYS_DIR
from node.api_keys import ApiKeys
from node.api_sessions import SessionBroker
from node.backfill import Backfill
from node.blob_exchange import MAX_BLOB_FRAME, BlobExchange
from node.blob_pins import referenced_blobs
from node.chain import DEFAULT_STATE_CACHE_MB, BadBlock, BlockImportError, Chain, ImportedBlock, UnknownParent
from node.equivocation import SlotWatch, block_evidence, vote_evidence
from node.finality import FinalityGadget
from node.gossip import BLOCKS, EXTRINSICS, VOTES, Gossiped
from node.gossip_judge import judge_extrinsics, judge_votes
from node.history import HistoryIndex
from node.http import rpc_app, serve_app, with_lifespan
from node.metrics import Metrics
from node.p2p import RESPONSE_BUDGET, Network
from node.peer_book import Offence
from node.pool_journal import PoolJournal, restore
from node.rpc import RpcHandler
from node.rpc_methods import build_methods
from node.rpc_subscriptions import ALL as ALL_HEADS
from node.rpc_subscriptions import HeadsHub
from node.rpc_ws import WebSocketRpc
from node.serve_protocol import Desks, ServeExchange
from node.slashing_protection import SlashingProtection
from node.state_pruning import DEFAULT_KEEP
from node.storage import ChainStore
from node.supervise import supervised
from node.sync import BlockSync
from node.txpool import PoolError, TxPool
from node.warp import WarpSync
from node.warp_protocol import StateProtocol
from node.warp_store import repair_install
from node.worker_link import NodeChainView
from node.worker_metrics import LiveCollector, restarts_of
from offchain.blobs import DEFAULT_QUOTA, BlobStore
from offchain.provider import ProviderWorker
from offchain.setup import Sandbox, build_provider_worker, build_verifier_worker
from offchain.verifier import VerifierWorker
from runtime.codec import CodecError, encode
from runtime.crypto import Keypair, to_address
from runtime.pallets import registry, slashing
from runtime.types import Block, Call, Extrinsic, extrinsic_hash

log = logging.getLogger("vcoin.node")
INFORMANT_SECONDS = 5.0
BLOB_COLLECT_SECONDS = 30.0
HISTORY_STEP = 64  # blocks the history index takes in one step between imports
MAX_DRIFT_SECONDS = 1.0
JOURNAL_PATIENCE_SECONDS = 300.0  # restore the pool journal by then even if still behind
STALE_SLOTS = 4  # a best block older than this many slots: we are behind (or the net stalled)


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
    blob_quota: int = DEFAULT_QUOTA  # bytes of job inputs and results kept off chain
    worker: bool = False
    bootnodes: list[str] = field(default_factory=list)
    p2p_host: str = "127.0.0.1"  # used when listen_addrs is empty (embedded and test nodes)
    listen_addrs: list[str] = field(default_factory=list)  # IPs to listen on: "0.0.0.0", "::", ...
    public_addrs: list[str] = field(default_factory=list)  # multiaddrs to advertise (--public-addr)
    network: bool = True
    max_peers: int = 25
    worker_key: Keypair | None = None
    executor: str = "auto"
    model_dirs: list[Path] = field(default_factory=list)
    packaged_models: tuple[str, ...] | None = None  # the packaged models to serve; None: all installed
    worker_price: int = 1_000
    job_timeout: float = 900.0
    job_memory_mb: int | None = None
    api_port: int | None = None  # the OpenAI-compatible API (--api-port)
    api_host: str = "127.0.0.1"
    api_keys_dir: Path | None = None  # None: ~/.vcoin/api-keys
    public_api_url: str = ""  # where users' nodes reach this worker's desk over HTTP (--public-api-url)
    rendezvous_host: str = "127.0.0.1"  # where other providers reach this one's runner (--rendezvous-host)
    state_cache_mb: int = DEFAULT_STATE_CACHE_MB  # trie nodes and state reads (--state-cache-mb)
    state_pruning: int | None = DEFAULT_KEEP  # finalized states kept; None: archive (--state-pruning)
    blocks_pruning: int | None = None  # finalized block bodies kept; None: every one (--blocks-pruning)
    sync: str = "full"  # "warp": a fresh node fetches the finalized state first (--sync, node.warp)

    def sandbox(self) -> Sandbox:
        return Sandbox(self.executor, self.job_timeout, self.job_memory_mb)


def short(block_hash: bytes) -> str:
    return f"0x{block_hash[:4].hex()}…{block_hash[-2:].hex()}"


class Node:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.store = ChainStore(config.base_path / "db")
        try:
            self.chain = Chain(
                self.store,
                config.spec,
                state_cache_mb=config.state_cache_mb,
                state_pruning=config.state_pruning,
                blocks_pruning=config.blocks_pruning,
            )
        except BaseException:
            self.store.close()
            raise
        if repair_install(self.store):  # a warp's install cut short by a crash: its justification
            log.info("Warp sync: finished the install a restart cut short (#%d)", self.chain.best.number)
        # While warp sync runs, the old chain must stay as it is (node.warp):
        # no block or vote gossip is taken in.
        self.warping = config.sync == "warp" and self.chain.best.number == 0
        self.pool = TxPool()
        self.journal = PoolJournal(config.base_path / "txpool" / "journal.bin")
        self._journaled: set[bytes] = set()
        self._journal_restored = False
        # One block at a time (import, authoring) and finality between them:
        # the work runs in a worker thread, the adoption on the event loop.
        self.chain_lock = trio.Lock()
        self.sync = BlockSync(self)
        protection = None
        if config.validator_key is not None:
            protection = SlashingProtection(config.base_path, config.spec.chain_id)
        self.finality = FinalityGadget(self.chain, config.validator_key, protection)
        self.chain.on_switch = self._switched  # fork choice followed a block justified on a fork
        self.slots = SlotWatch()
        self.network: Network | None = None
        if config.network:
            self.network = Network(
                config.base_path, self.chain.genesis.hash, config.listen_addrs or [config.p2p_host],
                config.p2p_port, config.bootnodes, self._blocks_from, config.max_peers, config.public_addrs,
            )  # fmt: skip
            self.network.gossip.on(BLOCKS, self._gossiped_blocks)
            self.network.gossip.on(EXTRINSICS, self._gossiped_extrinsics)
            self.network.gossip.on(VOTES, self._gossiped_votes_between_imports)
        self.state_protocol: StateProtocol | None = None  # every node serves warp sync
        if self.network is not None:
            self.state_protocol = StateProtocol(self.network, self.chain.genesis.hash, self.store)
        self.blobs = BlobStore(config.base_path / "blobs", config.blob_quota)
        self.blob_exchange: BlobExchange | None = None
        if self.network is not None:
            self.blob_exchange = BlobExchange(self.network, self.blobs, self.chain.genesis.hash)
        self.worker: ProviderWorker | None = None
        self.verifier: VerifierWorker | None = None
        if config.worker and config.worker_key is not None:
            self.worker = build_provider_worker(
                NodeChainView(self, config.worker_key), config.base_path, self.blobs, config.sandbox(),
                config.model_dirs, config.worker_price, config.spec.chain_id, config.public_api_url,
                config.rendezvous_host, config.packaged_models,
            )  # fmt: skip
        if config.worker and config.validator_key is not None:
            self.verifier = build_verifier_worker(
                NodeChainView(self, config.validator_key), config.base_path, self.blobs, config.sandbox(),
                config.model_dirs, config.validator_key.seed, config.packaged_models,
            )  # fmt: skip
        desk = self.worker.desk if self.worker is not None else None
        self.serve_exchange: ServeExchange | None = None
        if self.network is not None:
            self.serve_exchange = ServeExchange(self.network, self.chain.genesis.hash, desk)
        self.desks = Desks(desk, self.serve_exchange, lambda who: registry.api_url(self.chain.state, who))
        self._served_counted = 0
        if self.verifier is not None:
            self.verifier.serve = self.desks.call
        self.metrics = Metrics()
        self._watch_workers()
        self.heads = HeadsHub()
        self.heads.watch(self)
        self.history = HistoryIndex(self.store.history_db())
        self._history_due = trio.Event()
        self.rpc = RpcHandler(build_methods(self))
        self._update_gauges()

    def _watch_workers(self) -> None:
        """The worker-local metrics: job times pushed by the provider worker,
        executor restarts and the blob store read when scraped."""
        restarts = {}
        if self.worker is not None:
            self.worker.on_executed = self.metrics.worker.observe_job
            restarts["provider"] = partial(restarts_of, self.worker.executor)
        if self.verifier is not None:
            restarts["verifier"] = partial(restarts_of, self.verifier.executor)
        self.metrics.registry.register(LiveCollector(self.blobs, restarts))

    # -- facts the RPC reports (node.abc.SystemHost) ---------------------------
    def should_have_peers(self) -> bool:
        return not self.config.dev

    def peer_count(self) -> int:
        return 0 if self.network is None else len(self.network.peers())

    def is_syncing(self) -> bool:
        return self.sync.syncing

    def local_peer_id(self) -> str | None:
        return None if self.network is None else self.network.peer_id

    def listen_addresses(self) -> list[str]:
        return [] if self.network is None else self.network.addresses()

    def want_blob(self, digest: bytes, max_size: int = MAX_BLOB_FRAME) -> bool:
        """Ask peers for a blob this node lacks; False when there is no network."""
        if self.blob_exchange is None:
            return False
        self.blob_exchange.want(digest, max_size)
        return True

    def _blocks_from(self, start: int, count: int) -> tuple[int, list[list[bytes | None]], bytes | None]:
        """Our best number, canonical blocks from `start` within the byte
        budget, and the justification of our latest finalized block (a peer
        whose vote gossip fails still finalizes from it)."""
        items: list[list[bytes | None]] = []
        size = 0
        store = self.chain.store
        for number in range(start, start + count):
            block_hash = store.hash_at(number)
            raw = None if block_hash is None else store.block_bytes(block_hash)
            if raw is None or block_hash is None:
                break
            justification = store.justification(block_hash)
            size += len(raw) + len(justification or b"")
            if items and size > RESPONSE_BUDGET:
                break
            items.append([raw, justification])
        return self.chain.best.number, items, store.justification(self.chain.finalized_hash)

    def _publish(self, topic: str, item: bytes) -> None:
        if self.network is not None:
            self.network.gossip.publish(topic, item)

    # -- transactions and blocks -------------------------------------------
    def submit_extrinsic(self, raw: bytes, local: bool = False, journal: bool = True) -> bytes:
        """`local` for this node's own transactions (validator, workers): they
        have room in the pool that gossip and RPC cannot take. What this node
        accepts from its users and workers is journaled until it leaves the pool."""
        try:
            tx_hash = self.pool.submit(self.chain.state, raw, local=local)
        except PoolError:
            self.metrics.rejected.inc()
            raise
        self.metrics.txpool.set(len(self.pool))
        self._publish(EXTRINSICS, raw)
        if journal:
            self._journaled.add(tx_hash)
            self.journal.record(raw)
            if self.journal.due() and self._journal_restored:  # before, the file holds more than the set
                self.journal.rewrite(self._journal_pending())
        return tx_hash

    def _journal_pending(self) -> list[bytes]:
        """Journaled transactions still in the pool (the set forgets the rest)."""
        self._journaled &= set(self.pool.by_hash)
        return [self.pool.by_hash[h].raw for h in self._journaled]

    def author_slot(self, slot: int) -> ImportedBlock | None:
        """Author our block for `slot` if it is ours (inline; benches and tests)."""
        key = self._due(slot)
        if key is None:
            return None
        prepared, rejected = self.chain.prepare_author(key, slot, self._candidates(), self.pool.verified)
        return self._authored(self.chain.adopt(prepared), rejected)

    async def author_slot_async(self, slot: int) -> ImportedBlock | None:
        """Author in a worker thread, so a full block never stalls gossip or RPC."""
        async with self.chain_lock:
            key = self._due(slot)
            if key is None:
                return None
            prepared, rejected = await trio.to_thread.run_sync(
                self.chain.prepare_author, key, slot, self._candidates(), self.pool.verified
            )
            return self._authored(self.chain.adopt(prepared), rejected)

    def _due(self, slot: int) -> Keypair | None:
        key = self.config.validator_key
        if key is None or slot <= self.chain.best.slot:
            return None
        if self._catching_up():
            return None  # a block on a stale parent is a fork nobody builds on
        if expected_author(slot, self.chain.validators()) != key.public:
            return None
        return key

    def _candidates(self) -> list[bytes]:
        return list(self.pool.ready(self.chain.state))

    def _authored(self, imported: ImportedBlock, rejected: tuple[tuple[bytes, str], ...]) -> ImportedBlock:
        self.pool.remove([extrinsic_hash(raw) for raw, _ in rejected])
        for raw, reason in rejected:
            log.debug("dropped %s from the pool: %s", short(extrinsic_hash(raw)), reason)
        if imported.bugs:  # left out of the block: a runtime bug, not the sender's fault (runtime.faults)
            self.pool.remove([extrinsic_hash(raw) for raw, _ in imported.bugs])
            for raw, error in imported.bugs:
                log.error("runtime bug in extrinsic %s: %s", extrinsic_hash(raw).hex(), error)
            self.metrics.runtime_bugs.inc(len(imported.bugs))
        self._publish(BLOCKS, imported.block.encode())
        self._after_block(imported)
        return imported

    def import_block(self, block: Block, vote: bool = True) -> ImportedBlock:
        """Import a block from the network: clock check, then the chain's checks."""
        self._check_clock(block)
        imported = self.chain.import_block(block, self.pool.verified)
        self._after_block(imported, vote)
        return imported

    async def import_block_async(self, block: Block, vote: bool = True) -> ImportedBlock:
        """`import_block` with the work in a worker thread: networking and RPC
        go on meanwhile, reading the old best state until the new one is adopted."""
        self._check_clock(block)
        async with self.chain_lock:
            # Synced blocks (vote=False) are flushed per batch: see BlockSync.
            prepared = await trio.to_thread.run_sync(
                self.chain.prepare_import, block, self.pool.verified, vote
            )
            imported = self.chain.adopt(prepared)
            self._after_block(imported, vote)
        return imported

    def _check_clock(self, block: Block) -> None:
        latest = slot_at(time.time() + MAX_DRIFT_SECONDS, self.chain.spec.params.slot_seconds)
        if block.header.slot > latest:
            raise BlockImportError(f"slot {block.header.slot} is in the future")

    def _after_block(self, imported: ImportedBlock, vote: bool = True) -> None:
        block = imported.block
        evidence = self.slots.observe(block)
        if evidence is not None:
            log.warning(
                "%s authored two blocks for slot %d", to_address(block.header.author), block.header.slot
            )
            self._report(block_evidence(*evidence), block.header.author)
        self.heads.publish(ALL_HEADS, block.header)
        if not imported.best:
            log.info(
                "Imported #%d (%s) on a fork; best stays #%d",
                block.header.number,
                short(block.hash),
                self.chain.best.number,
            )
            return
        self.pool.remove([extrinsic_hash(raw) for raw in block.extrinsics])
        self._resubmit(imported.retracted)
        self.pool.prune(self.chain.state)
        for digest, size in referenced_blobs(imported.events, self.chain.state):
            self.blobs.touch(digest, size)
        provider = self.worker.chain.account if self.worker is not None else None
        self.metrics.market.observe_block(block.header, self.chain.state, imported.events, provider)
        self.metrics.imported.inc()
        self.metrics.extrinsics.inc(len(block.extrinsics))
        self.metrics.import_time.observe(imported.millis / 1e3)
        if vote:  # a synced batch retries pending votes once, in after_batch, not per block
            self._finality_step(self.finality.after_import())
            self._notify_workers()
        self._update_gauges()
        # While syncing, progress lines replace one line per block.
        log.log(
            logging.INFO if vote else logging.DEBUG,
            "Imported #%d (%s) %d ext in %.1f ms%s",
            block.header.number,
            short(block.hash),
            len(block.extrinsics),
            imported.millis,
            " [authored]" if imported.authored else "",
        )

    def _switched(self, switched: ImportedBlock) -> None:
        """The best block moved to the fork holding a newly justified block
        (no import: finality did it, see `node.chain.Chain.justify`)."""
        self._resubmit(switched.retracted)
        self.pool.prune(self.chain.state)
        self._notify_workers()
        self._update_gauges()

    def _resubmit(self, retracted: tuple[Block, ...]) -> None:
        """Transactions of blocks a reorg left behind go back to the pool
        (those the new chain already holds are refused as stale)."""
        back = 0
        for block in retracted:
            for raw in block.extrinsics:
                with contextlib.suppress(PoolError):
                    self.pool.submit(self.chain.state, raw)
                    back += 1
        if retracted:
            log.info("Reorg replaced %d blocks; %d transactions back in the pool", len(retracted), back)

    def after_batch(self) -> None:
        """After a synced batch: count pending votes and vote once for the new
        best, refresh gauges."""
        self._finality_step(self.finality.after_import())
        self._notify_workers()
        self._update_gauges()

    def _notify_workers(self) -> None:
        for worker in (self.worker, self.verifier):
            if worker is not None:
                worker.notify()

    # -- finality ---------------------------------------------------------------
    def _finality_step(self, outcome: Outcome | None) -> None:
        """Cast this validator's vote for the new best block, if due."""
        vote, own = self.finality.vote_on_best()
        if vote is not None:
            self._publish(VOTES, encode(vote.to_wire()))
        for result in (outcome, own):
            if result is not None:
                for first, second in result.evidence:
                    log.warning("%s cast conflicting finality votes", to_address(first.voter))
                    self._report(vote_evidence(first, second), first.voter)

    def _report(self, evidence: Call, offender: bytes) -> None:
        """Submit equivocation evidence, signed by this validator's key,
        unless the offender was already punished this era."""
        key = self.config.validator_key
        if key is None:
            log.info("not a validator: leaving the report to others")
            return
        if slashing.already_punished(self.chain.state, offender):
            return
        nonce = self.pool.next_nonce(self.chain.state, key.public)
        raw = Extrinsic.sign(key, self.chain.spec.chain_id, nonce, evidence).encode()
        try:
            self.submit_extrinsic(raw, local=True)
            log.info("submitted %s.%s", evidence.pallet, evidence.name)
        except PoolError as exc:
            log.warning("could not submit %s.%s: %s", evidence.pallet, evidence.name, exc)

    async def _restore_journal(self) -> None:
        """Submit the journal again once caught up: against a stale state the
        pool would refuse what is still good (nonces too far ahead)."""
        with trio.move_on_after(JOURNAL_PATIENCE_SECONDS):
            while self.behind():
                await trio.sleep(1.0)
        replayed: list[bytes] = []

        def submit(raw: bytes) -> None:
            replayed.append(extrinsic_hash(raw))
            self.submit_extrinsic(raw, journal=False)

        restore(self.journal, submit, lambda: self._restored(replayed))
        self._journal_restored = True

    def _restored(self, replayed: list[bytes]) -> list[bytes]:
        self._journaled.update(h for h in replayed if h in self.pool.by_hash)
        return self._journal_pending()

    def _update_gauges(self) -> None:
        """After anything that may move the best or finalized block: gauges,
        subscribers (never waited on), and a nudge to the history index."""
        self.heads.announce(self)
        self._history_due.set()
        self.metrics.best.set(self.chain.best.number)
        finalized = self.chain.store.header(self.chain.finalized_hash)
        self.metrics.finalized.set(finalized.number if finalized else 0)
        self.metrics.txpool.set(len(self.pool))
        self.metrics.peers.set(self.peer_count())
        if self.desks.desk is not None:
            served = self.desks.desk.served
            self.metrics.session_requests.inc(served - self._served_counted)
            self._served_counted = served

    # -- gossip handlers (run while validating, before any relay) -------------
    async def _gossiped_blocks(self, peer: Any, items: list[bytes]) -> Gossiped:
        verdict = Gossiped.DROP
        if self.warping:
            return verdict  # the chain it would land on is about to be replaced (node.warp)
        for raw in items:
            try:
                block = Block.decode(raw)
            except CodecError:
                return Gossiped.BAD
            if self.chain.store.has_block(block.hash):
                continue
            try:
                await self.import_block_async(block)
                verdict = Gossiped.RELAY
            except UnknownParent:
                if not self._plausible_orphan(block):
                    near = block.header.number <= self.chain.best.number + 1 and not self.behind()
                    if near and self.network is not None:  # far ahead, we may just not know the new set yet
                        self.network.punish(
                            peer, Offence.ORPHAN, "a block with an unknown parent and a bad seal"
                        )
                    return Gossiped.DROP
                if block.header.number <= self.chain.best.number + 1:
                    self.sync.rewind()  # the sender's chain forks below our best
            except BadBlock as exc:
                log.warning("invalid block #%d from %s: %s", block.header.number, peer, exc)
                return Gossiped.BAD
            except BlockImportError as exc:
                log.debug("gossiped block #%d not imported: %s", block.header.number, exc)
        return verdict

    def _plausible_orphan(self, block: Block) -> bool:
        """A block whose parent we lack can still be checked for a seal by a
        validator we know, before it may send us searching for a fork."""
        return block.header.author in self.chain.validators() and verify_seal(block.header, block.seal)

    def _gossiped_extrinsics(self, peer: Any, items: list[bytes]) -> Gossiped:
        if self.sync.syncing:
            # Like Substrate during a major sync: transactions checked against a
            # state far behind are mostly refused or soon stale, and the checks
            # would slow the catching up that makes them count.
            return Gossiped.DROP
        verdict, fresh = judge_extrinsics(self.pool, self.chain.state, items)
        for raw in fresh:  # good items of a message that may not travel as it is
            self._publish(EXTRINSICS, raw)
        self.metrics.txpool.set(len(self.pool))
        return self._fair(verdict)

    def _catching_up(self) -> bool:
        """Peers are ahead of us, or may be: our best is stale and the first
        sync round (bootnodes dialed, every peer asked) has not ended yet, as
        after a restart. A node without peers then authors: the net stalled."""
        if self.sync.syncing:
            return True
        return self._stale() and self._unheard()

    def _stale(self) -> bool:
        return slot_at(time.time(), self.chain.spec.params.slot_seconds) - self.chain.best.slot > STALE_SLOTS

    def _unheard(self) -> bool:
        return self.network is not None and self.sync.rounds == 0

    def behind(self) -> bool:
        """Whether our view may be stale: syncing, peers not heard yet, or our
        best block several slots old (restarted, or cut off for a while)."""
        return self.sync.syncing or self._unheard() or self._stale()

    def _fair(self, verdict: Gossiped) -> Gossiped:
        """ "Spam" is judged against our state: a transaction far beyond its
        sender's nonce, a fee its balance cannot pay, a vote about a block we
        lack. While we are behind, honest peers send exactly that, and
        punishing them would ban the net away from us."""
        return Gossiped.DROP if verdict is Gossiped.SPAM and self.behind() else verdict

    async def _gossiped_votes_between_imports(self, peer: Any, items: list[bytes]) -> Gossiped:
        if self.warping:
            return Gossiped.DROP
        async with self.chain_lock:  # finality moves only between imports
            return self._gossiped_votes(peer, items)

    def _gossiped_votes(self, peer: Any, items: list[bytes]) -> Gossiped:
        verdict, fresh = judge_votes(self.finality, peer, items, self._finality_step)
        for raw in fresh:
            self._publish(VOTES, raw)
        self._update_gauges()
        return self._fair(verdict)

    # -- the loops -----------------------------------------------------------
    async def _slot_loop(self) -> None:
        seconds = self.chain.spec.params.slot_seconds
        while True:
            slot = slot_at(time.time(), seconds)
            await self.author_slot_async(slot)
            for vote in self.finality.rebroadcast():
                self._publish(VOTES, encode(vote.to_wire()))
            wait = slot_start(slot + 1, seconds) - time.time()
            await trio.sleep(max(wait, 0.0))

    async def _informant(self) -> None:
        while True:
            await trio.sleep(INFORMANT_SECONDS)
            finalized = self.chain.store.header(self.chain.finalized_hash)
            log.info(
                "%s (%d peers), best: #%d (%s), finalized #%d, %d txs in pool",
                "Syncing" if self.sync.syncing else "Idle",
                self.peer_count(),
                self.chain.best.number,
                short(self.chain.best.hash),
                finalized.number if finalized else 0,
                len(self.pool),
            )

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        cfg = self.config
        library_logs.install()
        log.info("Chain %s (%s), genesis %s", cfg.spec.name, cfg.spec.id, short(self.chain.genesis.hash))
        log.info(
            "Database at %s, best #%d (%s)",
            cfg.base_path,
            self.chain.best.number,
            short(self.chain.best.hash),
        )
        if cfg.validator_key is not None:
            log.info("Authoring as %s", to_address(cfg.validator_key.public))
        pruning = self.chain.pruner
        log.info(
            "State pruning: %s",
            "archive (every state kept)" if pruning.keep is None
            else f"the last {pruning.keep} finalized states kept (from #{pruning.floor})",
        )  # fmt: skip
        pruning.start()  # the chain's (a warp sync replaces the chain, and its pruner with it)
        try:
            async with self._network_running(), trio.open_nursery() as nursery:
                if self.network is not None:
                    log.info("p2p listening as %s", self.network.addresses()[0])
                    nursery.start_soon(supervised, "block sync", self._follow)
                    if self.blob_exchange is not None:
                        nursery.start_soon(supervised, "blob exchange", self.blob_exchange.run)
                ws = WebSocketRpc(self.rpc, self.heads, cfg.max_rpc_body)
                app = rpc_app(self.rpc, cfg.max_rpc_body, ws)
                serve_rpc = partial(serve_app, max_ws_message=2 * cfg.max_rpc_body)
                await nursery.start(serve_rpc, app, cfg.rpc_host, cfg.rpc_port, "JSON-RPC")
                if cfg.prometheus_port is not None:
                    metrics = with_lifespan(self.metrics.asgi_app())
                    await nursery.start(
                        serve_app, metrics, cfg.prometheus_host, cfg.prometheus_port, "Prometheus"
                    )
                if cfg.api_port is not None:
                    await nursery.start(serve_app, self._api_app(), cfg.api_host, cfg.api_port, "OpenAI API")
                nursery.start_soon(supervised, "block authoring", self._slot_loop)
                for worker in (self.worker, self.verifier):
                    if worker is not None:
                        nursery.start_soon(supervised, type(worker).__name__, worker.run)
                nursery.start_soon(supervised, "informant", self._informant)
                nursery.start_soon(supervised, "blob collector", self._collect_blobs)
                nursery.start_soon(supervised, "history index", self._follow_history)
                nursery.start_soon(supervised, "pool journal", self._restore_journal)
                nursery.start_soon(self._signals, nursery.cancel_scope)
                task_status.started()
        finally:
            self.journal.close()
            self.chain.pruner.stop()
            self.store.close()
            log.info("Stopped; database closed cleanly at #%d", self.chain.best.number)

    def _api_app(self) -> Any:
        keys = ApiKeys(self.config.api_keys_dir or DEFAULT_KEYS_DIR)
        return OpenAiApi(self, SessionBroker(self, self.desks, keys), keys, self.metrics.api_requests).app()

    async def _follow(self) -> None:
        """Warp sync first when asked (node.warp), then block sync, and
        header backfill beside it once a warp left headers to fetch."""
        assert self.network is not None and self.state_protocol is not None
        if self.config.sync == "warp":
            try:
                await WarpSync(self, self.state_protocol).run()
            finally:
                self.warping = False
        backfill = Backfill(self, self.network, self.state_protocol)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(supervised, "header backfill", backfill.run)
            await self.sync.run()

    def open_chain(self) -> Chain:
        """The chain read afresh from the store (warp sync replaced it)."""
        cfg = self.config
        return Chain(
            self.store, cfg.spec, state_cache_mb=cfg.state_cache_mb, state_pruning=cfg.state_pruning,
            blocks_pruning=cfg.blocks_pruning,
        )  # fmt: skip

    def use_chain(self, chain: Chain) -> None:
        """Run on `chain` from now on, with a finality gadget over it."""
        self.chain.pruner.stop()
        chain.pruner.start()
        self.chain = chain
        self.finality = FinalityGadget(chain, self.config.validator_key, self.finality.protection)
        chain.on_switch = self._switched
        self.heads.watch(self)
        self._update_gauges()

    async def _follow_history(self) -> None:
        """Index new blocks between imports (the lock), a bounded step at a time."""
        while True:
            await self._history_due.wait()
            self._history_due = trio.Event()
            async with self.chain_lock:
                self.history.follow(self.chain, HISTORY_STEP)
            if self.history.behind(self.chain):
                self._history_due.set()
                await trio.sleep(0)

    async def _collect_blobs(self) -> None:
        while True:
            await trio.sleep(BLOB_COLLECT_SECONDS)
            freed = await trio.to_thread.run_sync(self.blobs.collect)
            if freed:
                log.info("Blob store: %d MiB of unreferenced blobs collected", freed >> 20)

    def _network_running(self) -> Any:
        if self.network is None:
            return contextlib.nullcontext()
        return self.network.running()

    async def _signals(self, scope: trio.CancelScope) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("Received %s, shutting down", signal.Signals(signum).name)
                scope.cancel()
                return
