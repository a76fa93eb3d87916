"""The node's seams: what each part of a running node reads of it and may
call on it, one small protocol per part (as py-evm's `eth/abc.py` or
py-libp2p's `abc.py` declare theirs).

`node.service.Node` satisfies every protocol here; block sync, the RPC
namespaces and the workers' chain view are given the node typed as the
protocol they need, and none of them imports `node.service`. So node/ has no
import cycle (`tests/node/test_import_graph.py` checks it), a part can be
driven by a stand-in that has only what its protocol names, and a change to
`Node` that a part relies on shows up here first.

The components behind these protocols (`Chain`, `TxPool`, `Network`,
`FinalityGadget`, `BlobStore`) are leaves: they never see the node. They are
imported for type checking only, so importing this module costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import trio

    from node.chain import Chain, ImportedBlock
    from node.finality import FinalityGadget
    from node.history import HistoryIndex
    from node.p2p import Network
    from node.txpool import TxPool
    from offchain.blobs import BlobStore
    from runtime.types import Block


# -- building blocks ------------------------------------------------------------
class ChainReader(Protocol):
    """Reads the chain: best and finalized blocks, states, the store."""

    @property
    def chain(self) -> Chain: ...


class PoolReader(Protocol):
    """Reads the transaction pool (pending transactions, next nonces)."""

    @property
    def pool(self) -> TxPool: ...


class TxSubmitter(Protocol):
    """Puts a transaction into the pool, gossips and journals it."""

    def submit_extrinsic(self, raw: bytes, local: bool = False, journal: bool = True) -> bytes:
        """The extrinsic hash; `node.txpool.PoolError` when refused. `local`
        for the node's own transactions (validator, workers)."""
        ...


class BlobHost(Protocol):
    """The off-chain blob store, and fetching a missing blob from peers."""

    @property
    def blobs(self) -> BlobStore: ...

    def want_blob(self, digest: bytes, max_size: int = ...) -> bool:
        """Ask peers for a blob (at most `max_size` bytes); False without a network."""
        ...


# -- one protocol per part --------------------------------------------------------
class SyncHost(ChainReader, Protocol):
    """What `node.sync.BlockSync` reads (chain, network, finality) and calls
    (import a block; once a batch is in, the node's after-batch step)."""

    @property
    def network(self) -> Network | None: ...

    @property
    def finality(self) -> FinalityGadget: ...

    @property
    def chain_lock(self) -> trio.Lock:
        """Held while a block is adopted or finality moves: one at a time."""
        ...

    async def import_block_async(self, block: Block, vote: bool = True) -> ImportedBlock: ...

    def after_batch(self) -> None:
        """After a synced batch: pending votes counted, a vote cast, workers told."""
        ...


class SystemHost(ChainReader, PoolReader, Protocol):
    """What the `system_` RPC namespace reports."""

    def peer_count(self) -> int: ...

    def is_syncing(self) -> bool: ...

    def should_have_peers(self) -> bool:
        """False for a dev chain, which runs alone."""
        ...

    def local_peer_id(self) -> str | None: ...

    def listen_addresses(self) -> list[str]: ...


class AuthorHost(PoolReader, TxSubmitter, Protocol):
    """What the `author_` RPC namespace reads (the pool) and calls (submit)."""


class LedgerHost(ChainReader, PoolReader, Protocol):
    """What the `vcoin_` ledger methods read: the chain, and the pool for a
    transaction still pending."""


class MarketHost(ChainReader, BlobHost, Protocol):
    """What the `vcoin_` market methods read (chain, blobs) and call (fetch
    a job's result blob from peers)."""


class HistoryHost(ChainReader, Protocol):
    """What the history and explorer methods read: the chain and the
    history index kept as blocks are imported (`node.history`)."""

    @property
    def history(self) -> HistoryIndex: ...


class ExplorerHost(SystemHost, HistoryHost, BlobHost, Protocol):
    """What the dashboard's summary, block, account and validator views read."""


class RpcHost(ExplorerHost, AuthorHost, LedgerHost, MarketHost, Protocol):
    """Every RPC namespace together (`node.rpc_methods.build_methods`)."""


class WorkerHost(ChainReader, PoolReader, TxSubmitter, BlobHost, Protocol):
    """What `node.worker_link.NodeChainView` (the off-chain workers' view)
    reads and calls: the best state, nonces from the pool, local
    submission, blob fetching."""
