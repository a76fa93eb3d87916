"""What this node's own workers and stores did, for Prometheus: the time
each job took in the sandbox by kind (pushed by the provider worker as a
job finishes), executor restarts and the blob store's size (read when
scraped, from counts the executor and the store keep anyway)."""

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from node.metric_labels import BoundedLabel
from offchain.blobs import BlobStore

# From an embedding of a few sentences to a long LoRA run (the job limit is 900 s by default).
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0)


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.kinds = BoundedLabel(limit=8)
        self.job_seconds = Histogram(
            "vcoin_worker_job_execution_seconds",
            "Time this node's provider worker spent running a job in its sandbox, by kind",
            ("kind",),
            buckets=JOB_BUCKETS,
            registry=registry,
        )

    def observe_job(self, kind: str, seconds: float) -> None:
        """Called by the provider worker: it must never fail the job."""
        if seconds >= 0:
            self.job_seconds.labels(self.kinds(kind)).observe(seconds)


def restarts_of(executor: object) -> int:
    """An executor's restart count; one that keeps none (a test's stand-in) has 0."""
    return int(getattr(executor, "restarts", 0))


class LiveCollector(Collector):
    """Read at scrape time, so nothing on the import path keeps them current.
    `restarts` maps a worker ("provider", "verifier") to its executor's count."""

    def __init__(self, blobs: BlobStore, restarts: Mapping[str, Callable[[], int]]) -> None:
        self.blobs = blobs
        self.restarts = restarts

    def collect(self) -> Iterator[Metric]:
        restarts = CounterMetricFamily(
            "vcoin_worker_executor_restarts",
            "Sandboxes started again after one died, was killed or was dropped (a runner process, a container)",
            labels=("worker",),
        )
        for worker, count in sorted(self.restarts.items()):
            restarts.add_metric((worker,), count())
        yield restarts
        yield GaugeMetricFamily(
            "vcoin_blob_store_bytes",
            "Bytes of job inputs and results in the blob store",
            value=self.blobs.used,
        )
        yield GaugeMetricFamily(
            "vcoin_blob_store_blobs",
            "Blobs (job inputs and results) in the blob store",
            value=self.blobs.count,
        )
