"""The market in Prometheus, from the events of the blocks this node imports.

Each block that becomes best adds what its events say: jobs assigned,
served (settled), failed and refunded by kind and model, session requests
settled, verification outcomes, slashes by offence, and what this node's
provider account earned. Every node derives the same counts from the same
blocks, so an operator can scrape any of them; a counter starts at zero with
the process, as Prometheus expects of counters.

A metric is never worth a block: `observe_block` swallows whatever goes
wrong and logs it at most once a minute.
"""

import logging
import time
from collections.abc import Callable, Iterable
from functools import partial

from prometheus_client import CollectorRegistry, Counter

from node.history_point import account_changes, batch_requests
from node.metric_labels import BoundedLabel
from runtime.pallets import jobs, registry, sessions, slashing
from runtime.state import State
from runtime.types import Event, Header

log = logging.getLogger("vcoin.metrics")
LOG_EVERY = 60.0  # seconds between two logged failures

# jobs events that end an attempt without a result, and the reason label they get
FAILED = {"MissedCommit": "missed_commit", "MissedReveal": "missed_reveal", "Refused": "refused",
          "Declined": "declined", "Rejected": "rejected"}  # fmt: skip
CHECK_CLOSED = {"passed": "passed", "failed": "mismatch", "expired": "expired"}
OUTCOMES = ("passed", "mismatch", "disputed", "expired")
EARNINGS = {"rewards": "reward", "jobFees": "job_fee", "sessionFees": "session_fee"}  # history name -> source


class MarketMetrics:
    def __init__(self, registry_: CollectorRegistry) -> None:
        self.kinds = BoundedLabel(limit=8)
        self.models = BoundedLabel(limit=32)
        self._failed_at = -LOG_EVERY

        def counter(name: str, text: str, labels: tuple[str, ...]) -> Counter:
            return Counter(name, text, labels, registry=registry_)

        job = ("kind", "model")
        self.jobs_assigned = counter("vcoin_market_jobs_assigned", "Jobs assigned to a provider", job)
        self.jobs_served = counter("vcoin_market_jobs_served", "Jobs settled: served, paid", job)
        self.jobs_failed = counter(
            "vcoin_market_jobs_failed",
            "Job attempts that ended without a result (missed commit or reveal, refused, declined, rejected)",
            (*job, "reason"),
        )
        self.jobs_refunded = counter("vcoin_market_jobs_refunded", "Jobs refunded to their submitter", job)
        self.requests_served = counter(
            "vcoin_market_requests_served", "Session requests settled on chain, all providers", job
        )
        self.verifications = counter(
            "vcoin_market_verifications", "Re-execution checks by outcome (disputed: a mismatch, more asked)",
            ("outcome",),
        )  # fmt: skip
        self.known_answers = counter(
            "vcoin_market_known_answers", "Hidden known-answer jobs opened, by outcome", ("outcome",)
        )
        self.slashes = counter("vcoin_market_slashes", "Slashes by offence", ("offence",))
        self.slashed = counter(
            "vcoin_market_slashed_base_units", "Stake slashed, base units (1 VC = 10^9)", ("offence",)
        )
        self.earnings = counter(
            "vcoin_provider_earnings_base_units",
            "What this node's provider account earned, base units (1 VC = 10^9): emission, job and session fees",
            ("source",),
        )
        # Bounded label sets start at zero, so a rate is defined before the first event.
        for outcome in OUTCOMES:
            self.verifications.labels(outcome)
        for outcome in ("passed", "mismatch"):
            self.known_answers.labels(outcome)
        for offence in slashing.Offence:
            self.slashes.labels(offence.value)
            self.slashed.labels(offence.value)
        for source in EARNINGS.values():
            self.earnings.labels(source)

    def observe_block(
        self, header: Header, state: State, events: Iterable[Event], provider: bytes | None
    ) -> None:
        """Count a block that became best (`state` its post-state); `provider`
        is this node's worker account, whose earnings are counted. An event
        that cannot be counted costs only itself."""
        events = tuple(events)
        for event in events:
            self._guarded(header, partial(self._count, state, event))
        if provider is not None:
            self._guarded(header, partial(self._earned, header, state, events, provider))

    def _guarded(self, header: Header, count: Callable[[], None]) -> None:
        try:
            count()
        except Exception:
            now = time.monotonic()
            if now - self._failed_at >= LOG_EVERY:
                self._failed_at = now
                log.exception("market metrics of block #%d: an event not counted", header.number)

    def _count(self, state: State, event: Event) -> None:
        pallet, name, data = event.pallet, event.name, event.data
        if pallet == jobs.PALLET:
            labels = self._job_labels(state, data.get("job"))
            if name == "Assigned":
                self.jobs_assigned.labels(*labels).inc()
            elif name == "Settled":
                self.jobs_served.labels(*labels).inc()
            elif name == "Refunded":
                self.jobs_refunded.labels(*labels).inc()
            elif name in FAILED:
                self.jobs_failed.labels(*labels, FAILED[name]).inc()
        elif pallet == "sessions" and name == "Settled":
            self.requests_served.labels(*self._session_labels(state, data["session"])).inc(
                batch_requests(state, dict(data))
            )
        elif pallet == "verification" and name == "CheckClosed" and str(data["status"]) in CHECK_CLOSED:
            self.verifications.labels(CHECK_CLOSED[str(data["status"])]).inc()
        elif pallet == "verification" and name == "Disputed":
            self.verifications.labels("disputed").inc()
        elif pallet == "known_answers" and name == "Opened":
            self.known_answers.labels("passed" if data["passed"] else "mismatch").inc()
        elif pallet == "slashing" and name == "Slashed":
            offence = self._offence(data["offence"])
            self.slashes.labels(offence).inc()
            self.slashed.labels(offence).inc(max(int(data["amount"]), 0))

    def _job_labels(self, state: State, job_id: object) -> tuple[str, str]:
        found = jobs.job(state, job_id) if isinstance(job_id, int) else None
        if found is None:
            return self.kinds(None), self.models(None)
        return self.kinds(found.kind), self._model_name(state, found.model)

    def _session_labels(self, state: State, session_id: object) -> tuple[str, str]:
        found = sessions.session(state, session_id) if isinstance(session_id, int) else None
        if found is None:
            return self.kinds(None), self.models(None)
        model = registry.model(state, found.model)
        return self.kinds(model.kind if model else None), self._model_name(state, found.model)

    def _model_name(self, state: State, model_hash: bytes) -> str:
        """The registered name, never a peer's text: an unregistered hash is "unknown"."""
        model = registry.model(state, model_hash)
        return self.models(model.name if model is not None else None)

    @staticmethod
    def _offence(value: object) -> str:
        known = {offence.value for offence in slashing.Offence}
        return str(value) if str(value) in known else "other"

    def _earned(self, header: Header, state: State, events: tuple[Event, ...], provider: bytes) -> None:
        wire = [event.to_wire() for event in events]
        mine = account_changes(header, state, wire).get(provider, {})
        for name, source in EARNINGS.items():
            if mine.get(name, 0) > 0:
                self.earnings.labels(source).inc(mine[name])
