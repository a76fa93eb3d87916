"""Prometheus metrics of one node, served on their own port: the chain's
families here, the market's in `node.market_metrics` (from block events)
and `node.worker_metrics` (this node's worker and blob store)."""

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app

from node.market_metrics import MarketMetrics
from node.worker_metrics import WorkerMetrics


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.best = Gauge("vcoin_block_height_best", "Best block number", registry=self.registry)
        self.finalized = Gauge(
            "vcoin_block_height_finalized", "Finalized block number", registry=self.registry
        )
        self.txpool = Gauge("vcoin_txpool_size", "Transactions waiting in the pool", registry=self.registry)
        self.peers = Gauge("vcoin_peers", "Connected peers", registry=self.registry)
        self.imported = Counter("vcoin_blocks_imported", "Blocks imported", registry=self.registry)
        self.extrinsics = Counter(
            "vcoin_extrinsics_included",
            "Extrinsics included in imported blocks",
            registry=self.registry,
        )
        self.rejected = Counter(
            "vcoin_extrinsics_rejected", "Transactions refused by the pool", registry=self.registry
        )
        self.runtime_bugs = Counter(  # exposed as vcoin_runtime_bugs_total
            "vcoin_runtime_bugs",
            "Extrinsics left out of authored blocks because they made the runtime raise",
            registry=self.registry,
        )
        self.import_time = Histogram(
            "vcoin_block_import_seconds",
            "Time to execute and store one block",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )

        self.session_requests = Counter(  # exposed as vcoin_session_requests_served_total
            "vcoin_session_requests_served",
            "Session requests this node's provider answered (cheque checked, leaf logged)",
            registry=self.registry,
        )
        self.api_requests = Counter(  # exposed as vcoin_api_requests_total{route, status}
            "vcoin_api_requests", "Requests to the OpenAI-compatible API", ["route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.market = MarketMetrics(self.registry)
        self.worker = WorkerMetrics(self.registry)

    def asgi_app(self) -> Any:
        return make_asgi_app(registry=self.registry)
