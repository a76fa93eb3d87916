"""The provider's serving desk: requests of open sessions, answered at once.

A request comes with a cheque signed by the session's key. The desk checks
it against the chain (the session is open, served by this node's account,
of a model it has) and against its own log (the cheque's seq is the next
leaf; its cumulative units add exactly this request's work units, as the
chain prices a job of the same kind; they stay within the deposit), runs
the request on the worker's executor (one job at a time with the one-shot
jobs), logs the leaf and the cheque, synced, and answers. A failed run
consumes nothing: the same seq may be sent again.

After every block it settles each session whose newest cheque is ahead of
the chain's: at once after its first request (so a new session is sampled
early) and its first batches (up to `YOUNG_LEAVES` requests) as often as
the chain allows (`sessions.next_settle`), then every `SETTLE_EVERY` blocks
or sooner when much is owed, and once more in
the close window; it publishes the leaves the chain sampled, and forgets
the logs of ended sessions.
"""

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import trio

from agent.executor import Execution, Executor, ExecutorError
from agent.executor import piece_of as piece_of  # one frame shape for the runner, p2p and HTTP
from agent.job import JobSpec
from offchain.driver import isolated_step
from offchain.session_publisher import publish_due
from offchain.session_store import Served, SessionStore
from runtime.constants import (
    MAX_BATCH_LEAVES,
    MAX_PUBLISHED_RESULT,
    SESSION_SETTLE_INTERVAL,
    SESSION_YOUNG_BATCHES,
)
from runtime.pallets import registry, sessions
from runtime.pallets.session_types import Cheque, SessionStatus, cheque_arg
from runtime.session_log import root
from runtime.session_request import parse_request, request_hash
from runtime.types import Call

log = logging.getLogger("vcoin.serve")
SERVE_TIMEOUT = 120.0  # seconds: a request is interactive, not a batch job
TOKENIZER_TIMEOUT = 60.0
RESEND_AFTER = 5  # blocks without effect before a settle is sent again
# blocks a client gives a provider to publish its sampled leaves (an honest
# desk publishes in the block after the draw, or once more RESEND_AFTER later)
PUBLISH_GRACE = RESEND_AFTER + 3
SETTLE_EVERY = 3 * SESSION_SETTLE_INTERVAL  # blocks between settles when nothing makes one urgent
# A session's first batches are settled (and so sampled) as often as the
# chain allows: a new session's answers are checked within its first dozens
# of requests; a busy one is past YOUNG_LEAVES after one interval anyway.
YOUNG_LEAVES = 200
# Work nobody pays for (tokenizer calls, runs that failed or whose result was
# too large) is bounded by paid work: a few per session plus two per paid request.
FREE_TOKENIZER_CALLS = 8
TOKENIZER_CALLS_PER_REQUEST = 2


StreamTo = Callable[[str], Awaitable[None]]


class ServeError(Exception):
    """A request refused: `code` says why to a program, the message to a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ServeAnswer:
    seq: int
    units: int  # this request's
    result: bytes  # canonical result bytes
    result_hash: bytes
    leaf: bytes


class ServingDesk:
    def __init__(
        self, chain: Any, executor: Executor, models: dict[bytes, Path], store: SessionStore,
        limiter: trio.CapacityLimiter, chain_id: bytes,
    ) -> None:  # fmt: skip
        self.chain, self.executor, self.models, self.store = chain, executor, models, store
        self.limiter, self.chain_id = limiter, chain_id
        self.locks: dict[int, trio.Lock] = {}
        self.free_work: dict[int, int] = {}  # per session: unpaid runs so far
        self.served = 0

    def providers(self) -> list[bytes]:
        return [self.chain.account]

    def _session(self, session_id: int) -> tuple[sessions.Session, registry.Model, Path]:
        state = self.chain.state()
        found = sessions.session(state, session_id)
        if found is None:
            raise ServeError(
                "unknown_session", f"no session {session_id} on chain (not yet included, or ended)"
            )
        if found.provider != self.chain.account:
            raise ServeError("not_provider", f"session {session_id} is served by another provider")
        if found.status != SessionStatus.OPEN or self.chain.best_number() >= found.expiry:
            raise ServeError("session_closed", f"session {session_id} is closing or expired")
        model = registry.model(state, found.model)
        path = self.models.get(found.model)
        if model is None or path is None:
            raise ServeError("unknown_model", "this provider does not have the session's model")
        return found, model, path

    async def serve(
        self, session_id: int, cheque: dict[str, Any], raw: bytes, on_piece: StreamTo | None = None
    ) -> ServeAnswer:
        """Serve one request; with `on_piece`, an inference request's text goes
        to it piece by piece as it is generated (before it is logged: a run
        that fails half way costs its user nothing)."""
        found, model, path = self._session(session_id)
        try:
            parsed = parse_request(raw, model.kind)
        except ValueError as exc:
            raise ServeError("bad_request", str(exc)) from None
        if not cheque_arg(cheque):
            raise ServeError("bad_cheque", "a cheque is {seq, units, request_hash (32 bytes), signature}")
        signed = Cheque.from_arg(cheque)
        lock = self.locks.setdefault(session_id, trio.Lock())
        async with lock:  # one request of a session at a time: seq numbers are strictly sequential
            session_log = self.store.log(session_id)
            previous = session_log.cheque() or {"seq": 0, "units": 0}
            units = parsed.units(model.params_millions)
            self._check_cheque(found, signed, raw, session_log.count + 1, previous["units"] + units)
            spec = JobSpec(parsed.kind.value, parsed.input, parsed.settings)
            self._spend_free_work(session_id, slack=1)  # given back once the request is paid
            try:
                execution = await self._run(spec, path, on_piece)
            except ExecutorError as exc:
                raise ServeError("failed", f"the request failed in the sandbox: {exc}") from None
            if len(execution.encoded) > MAX_PUBLISHED_RESULT:  # unpublishable if sampled: never logged
                raise ServeError(
                    "too_large", f"the result exceeds {MAX_PUBLISHED_RESULT} bytes: ask for less"
                )
            served = Served(signed.seq, raw, execution.encoded, units)
            leaf = await trio.to_thread.run_sync(
                session_log.append, served, request_hash(raw), execution.hash, dict(cheque)
            )
            self.served += 1
            self.free_work[session_id] -= 1
        return ServeAnswer(signed.seq, units, execution.encoded, execution.hash, leaf)

    def _spend_free_work(self, session_id: int, slack: int = 0) -> None:
        """Count one unpaid run; `slack` 1 lets a request that may be paid
        through when the free ones are used up, so a session never locks itself out."""
        used = self.free_work.get(session_id, 0)
        if (
            used
            >= slack + FREE_TOKENIZER_CALLS + TOKENIZER_CALLS_PER_REQUEST * self.store.log(session_id).count
        ):
            raise ServeError(
                "busy", "this session used its unpaid runs (tokenizer, failures): pay for one first"
            )
        self.free_work[session_id] = used + 1

    async def _run(self, spec: JobSpec, path: Path, on_piece: StreamTo | None) -> Execution:
        if on_piece is None:
            return await trio.to_thread.run_sync(
                self.executor.run, spec, path, SERVE_TIMEOUT, limiter=self.limiter
            )
        send, receive = trio.open_memory_channel[str](math.inf)  # at most MAX_TOKENS pieces

        def piece(text: str) -> None:  # in the executor's thread
            trio.from_thread.run_sync(send.send_nowait, text)

        async def forward() -> None:
            async for text in receive:
                await on_piece(text)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(forward)
            with send:
                return await trio.to_thread.run_sync(
                    lambda: self.executor.run(spec, path, SERVE_TIMEOUT, on_piece=piece), limiter=self.limiter
                )

    def _check_cheque(
        self, found: sessions.Session, signed: Cheque, raw: bytes, seq: int, units: int
    ) -> None:
        if signed.seq != seq:
            raise ServeError("bad_sequence", f"the next request of session {found.id} is seq {seq}")
        if signed.request_hash != request_hash(raw):
            raise ServeError("bad_cheque", "the cheque names another request")
        if signed.units != units:
            raise ServeError("bad_units", f"the cheque must count {units} units so far")
        if units * found.price > found.deposit:
            raise ServeError("deposit_exhausted", f"{units} units at {found.price} exceed the deposit")
        if not signed.verify(self.chain_id, found.id, found.key):
            raise ServeError("bad_signature", "the cheque is not signed by the session's key")

    async def tokenizer(self, session_id: int, request: dict[str, Any]) -> dict[str, Any]:
        """The session model's tokenizer (`agent.kinds.tokenizer`): free, for
        the holders of an open session with this provider only."""
        _, _, path = self._session(session_id)
        self._spend_free_work(session_id)
        spec = JobSpec("tokenizer", request)
        try:
            execution = await trio.to_thread.run_sync(
                self.executor.run, spec, path, TOKENIZER_TIMEOUT, limiter=self.limiter
            )
        except ExecutorError as exc:
            raise ServeError("bad_request", str(exc)) from None
        answer = msgpack.unpackb(execution.encoded, raw=False)
        return answer if isinstance(answer, dict) else {}

    # -- every block ---------------------------------------------------------
    def step(self, number: int) -> None:
        state = self.chain.state()
        mine = set(sessions.served_by(state, self.chain.account))
        for session_id in sorted(mine):
            found = sessions.session(state, session_id)
            if found is not None:
                self._settle(found, number)
        isolated_step("session publications", lambda: publish_due(self.chain, self.store, number))
        for session_id in self.store.known():
            if session_id not in mine and sessions.session(state, session_id) is None:
                self.store.forget(session_id)
                self.locks.pop(session_id, None)
                self.free_work.pop(session_id, None)

    @staticmethod
    def worth_settling(found: sessions.Session, cheque: dict[str, Any], upcoming: int) -> bool:
        """The provider's own policy, within the chain's interval: settle every
        `SETTLE_EVERY` blocks, or sooner when what is owed grows large (a
        quarter of what is left of the deposit, or half a batch's leaves).
        Fewer settles cost the provider fewer fees and the chain less room."""
        if upcoming < sessions.next_settle(found):
            return False
        owed = (cheque["units"] - found.units) * found.price
        return (
            (
                found.batches < SESSION_YOUNG_BATCHES and found.count < YOUNG_LEAVES
            )  # a new session: as soon as allowed
            or upcoming >= found.settled_at + SETTLE_EVERY
            or 4 * owed >= found.deposit - found.paid
            or cheque["seq"] - found.count >= MAX_BATCH_LEAVES // 2
        )

    def _settle(self, found: sessions.Session, number: int) -> None:
        session_log = self.store.log(found.id)
        cheque = session_log.cheque()
        if cheque is None or cheque["seq"] <= found.seq or number >= found.ends_at:
            return
        upcoming = number + 1  # the earliest block the settle can be in
        last_call = upcoming >= found.window_start and found.settled_at < found.window_start
        if found.batches and not last_call and not self.worth_settling(found, cheque, upcoming):
            return
        sent = session_log.state()
        if sent.get("seq") == cheque["seq"] and number - sent.get("at", -RESEND_AFTER) < RESEND_AFTER:
            return
        count = cheque["seq"]
        call = Call("sessions", "settle", {"session": found.id, "log_root": root(session_log.leaves[:count]),
                                           "count": count, "cheque": cheque})  # fmt: skip
        try:
            self.chain.submit_call(call)
        except ValueError as exc:
            log.warning("session %d: settle refused by the pool: %s", found.id, exc)
            return
        session_log.keep_state({"seq": cheque["seq"], "at": number})
        log.info("session %d: settling %d request(s) up to seq %d", found.id, count - found.count, count)
