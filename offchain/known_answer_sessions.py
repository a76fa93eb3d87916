"""Known-answer sessions: a validator's worker tests the providers' serving
desks with requests whose answers it already knows.

Rate (bounded): once per era (`era_length` blocks, seen from the best
block), for each provider of a model this machine has (a request/response
kind), the worker opens a test session with chance `known_answer_rate_ppm`
(5% by default): a provider expects `validators x rate` test sessions an
era, each of `REQUESTS` requests, and one worker has at most `MAX_OPEN`
in flight. (The era drawn last is kept in memory only: a restart may draw
once more in the same era.)

One test session:

1. the answers first: `REQUESTS` fresh inputs (`known_answer_inputs.TextPool`,
   spliced from ordinary-looking texts) run in this validator's own sandbox;
2. `sessions.open` exactly as the API opens a user's session (no provider
   named: the chain draws one by stake x reputation, so a provider picked
   for testing is reached only in proportion to its share; the default
   deposit; the deposit as the price cap), from one of the validator's
   unlinked accounts (`known_answers.known_answer_accounts`, funded by plain
   transfers when low), with a fresh session key;
3. the requests go to the provider's desk through the node (`serve`), each
   with a cheque signed by the session key, one at a time, each under a
   timeout: a dead provider only ends the test. Each answer is compared with
   the known one by the kind's rule (`agent.kinds.KINDS[kind].compare`);
4. a wrong answer is kept as evidence (its seq): once the provider settles
   the batch that holds it, the opener challenges that seq
   (`sessions.challenge`), so the provider must publish it and validators
   check it on chain; the settled cheque binds the request's hash, so it
   cannot deny the request. A provider that never settles is simply not
   paid for it (logged);
5. the session is closed once its wrong answers are challenged (or
   `WAIT_FOR_SETTLE` blocks after the last request): the chain refunds the
   unused deposit. The record is forgotten when the session has ended.

Each test is a record on disk (`RecordDir`), written before its transaction
or request is sent, so a restart neither loses a session key nor sends a
request twice (a request whose answer was not recorded is never resent).
"""

import logging
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import trio

from agent.canonical import decode as decode_result
from agent.executor import Executor, ExecutorError
from agent.job import JobSpec
from agent.kinds import KINDS
from offchain.driver import isolated_step, spawn
from offchain.known_answer_inputs import CORPUS, TextPool
from offchain.known_answers import ACCOUNTS, TX_MARGIN, known_answer_accounts
from offchain.provider import ChainView
from offchain.records import RecordDir
from runtime.codec import blake2b_256
from runtime.constants import DEFAULT_SESSION_DEPOSIT, PPM, UNIT
from runtime.crypto import Keypair
from runtime.pallets import balances, registry, sessions, system
from runtime.pallets.session_records import Challenged
from runtime.pallets.session_types import batch_key
from runtime.session_request import SESSION_KINDS, encode_request, parse_request, request_hash
from runtime.state import State
from runtime.types import Call, cheque_payload

log = logging.getLogger("vcoin.known_answers")
Serve = Callable[[bytes, dict[str, Any]], Awaitable[dict[str, Any]]]

MAX_OPEN = 2  # test sessions in flight at once
REQUESTS = (2, 4)  # requests per test session
SESSION_BLOCKS = 600  # a test session's expiry, blocks ahead: it is closed long before
RESEND_AFTER = 5  # blocks without effect before a transaction is sent again
GIVE_UP_AFTER = 60  # blocks an opening may take to show up on chain
WAIT_FOR_SETTLE = (
    60  # blocks after the last request the provider has to settle wrong answers before the close
)
SERVE_TIMEOUT = 180.0  # seconds per request: the desk's own limit and the transport's
UNKNOWN_SESSION_WAIT = 15.0  # seconds the provider's node may lag behind ours
OPENING, SERVING, WATCHING = "opening", "serving", "watching"


@dataclass(frozen=True)
class Probe:
    """One known-answer session, as kept on disk."""

    name: str
    account: int  # index of the paying account
    provider: bytes
    model: bytes
    kind: str
    key_seed: bytes  # the session key's seed: cheques are signed with it
    requests: list[bytes]  # canonical requests, seq 1 first
    expected: list[bytes]  # the known answers (canonical results)
    units: list[int]  # each request's work units
    deposit: int
    price: int
    started: int  # block the record was made in
    phase: str = OPENING
    sent: int = -1  # block of the phase's last transaction
    session: int = -1
    answered: int = 0  # requests answered: seqs 1..answered
    in_flight: bool = False  # a request sent whose answer was not recorded: never resent
    wrong: list[int] = field(default_factory=list)  # seqs answered wrongly: the evidence
    challenged: list[int] = field(default_factory=list)  # seqs whose challenge was sent
    served_until: int = 0  # block the requests ended in
    funding: bool = False  # the last transaction sent was the paying account's funding

    @property
    def key(self) -> Keypair:
        return Keypair(self.key_seed)


class KnownAnswerSessions:
    def __init__(
        self, chain: ChainView, executor: Executor, models: dict[bytes, Path], records: RecordDir,
        secret: bytes, limiter: trio.CapacityLimiter, job_timeout: float = 900.0,
        rng: random.Random | None = None, serve_timeout: float = SERVE_TIMEOUT,
    ) -> None:  # fmt: skip
        self.chain, self.executor, self.models, self.records = chain, executor, models, records
        self.limiter, self.job_timeout, self.serve_timeout = limiter, job_timeout, serve_timeout
        self.rng = rng or random.SystemRandom()
        self.accounts = known_answer_accounts(secret)
        self.ours = {key.public for key in self.accounts}
        self.pool = TextPool()
        self.serve: Serve | None = None  # the node's way to a provider's desk (set by the verifier worker)
        self.probes = {
            name: Probe(**rec) for name in records.names() if (rec := records.get(name)) is not None
        }
        self.era: int | None = None
        self.preparing = 0
        self.serving: set[str] = set()

    def step(self, nursery: trio.Nursery) -> None:
        state, number = self.chain.state(), self.chain.best_number()
        if self.serve is not None:
            self._draw(nursery, state, number)
        for probe in list(self.probes.values()):
            isolated_step(f"known-answer session {probe.name}",
                          lambda p=probe: self._advance(nursery, state, number, p))  # type: ignore[misc]  # fmt: skip

    # -- which providers, when ---------------------------------------------------
    def _draw(self, nursery: trio.Nursery, state: State, number: int) -> None:
        params = system.params(state)
        era = number // params.era_length
        if era == self.era:
            return
        self.era = era
        for model_hash in sorted(self.models):
            model = registry.model(state, model_hash)
            if model is None or model.kind not in SESSION_KINDS:
                continue
            for provider in sorted(registry.Serving.get(state, model_hash)):
                if provider == self.chain.account or provider in self.ours:
                    continue
                if len(self.probes) + self.preparing >= MAX_OPEN:
                    return
                if self.rng.random() * PPM < params.known_answer_rate_ppm:
                    self.start(nursery, provider, model)

    def start(self, nursery: trio.Nursery, provider: bytes, model: registry.Model) -> None:
        """Prepare a test session of `provider` serving `model` (its answers first)."""
        self.preparing += 1
        spawn(nursery, f"known-answer session of {provider.hex()[:12]}", self._prepare, provider, model)

    async def _prepare(self, provider: bytes, model: registry.Model) -> None:
        requests: list[bytes] = []
        expected: list[bytes] = []
        units: list[int] = []
        try:
            for _ in range(self.rng.randint(*REQUESTS)):
                raw = self._request(str(model.kind))
                parsed = parse_request(raw, model.kind)
                spec = JobSpec(parsed.kind.value, parsed.input, parsed.settings)
                done = await trio.to_thread.run_sync(self.executor.run, spec, self.models[model.hash],
                                                     self.job_timeout, limiter=self.limiter)  # fmt: skip
                requests.append(raw)
                expected.append(done.encoded)
                units.append(parsed.units(model.params_millions))
        except (ExecutorError, ValueError) as exc:
            log.warning("known-answer session not prepared: %s", exc)
            return
        finally:
            self.preparing -= 1
        price = registry.provider(self.chain.state(), provider).price
        probe = Probe(
            name=os.urandom(8).hex(), account=self.rng.randrange(ACCOUNTS), provider=provider, model=model.hash,
            kind=str(model.kind), key_seed=os.urandom(32), requests=requests, expected=expected, units=units,
            deposit=max(DEFAULT_SESSION_DEPOSIT, 2 * sum(units) * price, price, 1), price=price,
            started=self.chain.best_number(),
        )  # fmt: skip
        self._save(probe)  # opened from the next block step
        log.info("known-answer session %s of %s prepared (%d requests)", probe.name, provider.hex()[:12],
                 len(requests))  # fmt: skip

    def _request(self, kind: str) -> bytes:
        if kind == "inference":
            value = self.pool.make_input(kind, self.rng.choice(CORPUS), self.rng)
            return encode_request(kind, value, {"max_tokens": self.rng.choice((8, 16, 32))})
        template = [self.rng.choice(CORPUS) for _ in range(self.rng.randint(1, 4))]
        return encode_request(kind, self.pool.make_input(kind, template, self.rng), {})

    # -- one test session ----------------------------------------------------------
    def _advance(self, nursery: trio.Nursery, state: State, number: int, probe: Probe) -> None:
        due = probe.sent < 0 or number - probe.sent >= RESEND_AFTER
        if probe.phase == OPENING:
            found = self._opened(state, probe)
            if found is not None:
                # the chain drew the provider (as for a user's session): test whichever it is
                probe = replace(probe, phase=SERVING, session=found.id, sent=-1, provider=found.provider,
                                price=found.price)  # fmt: skip
                self._save(probe)
            elif number - probe.started > GIVE_UP_AFTER:
                self._drop(probe, "its session never opened")
                return
            elif due or probe.funding:
                self._open(state, number, probe, due)
                return
        if probe.phase == SERVING and probe.name not in self.serving and self.serve is not None:
            self.serving.add(probe.name)
            spawn(nursery, f"known-answer session {probe.name}", self._serve_all, probe, self.serve)
        elif probe.phase == WATCHING:
            self._watch(state, number, probe, due)

    def _opened(self, state: State, probe: Probe) -> sessions.Session | None:
        payer, key = self.accounts[probe.account].public, probe.key.public
        for session_id in sessions.opened_by(state, payer):
            found = sessions.session(state, session_id)
            if found is not None and found.key == key:
                return found
        return None

    def _open(self, state: State, number: int, probe: Probe, due: bool) -> None:
        payer = self.accounts[probe.account]
        needed = probe.deposit + TX_MARGIN
        if balances.get(state, payer.public).free < needed:  # plain transfers, a few sessions' worth
            if not due:
                return
            amount = -(-needed * self.rng.randint(2, 6) // UNIT) * UNIT
            funding = Call("balances", "transfer", {"to": payer.public, "amount": amount})
            self._send(replace(probe, sent=number, funding=True), funding)
            return
        # Opened as the API opens a user's: no provider named (the chain draws
        # one), the default deposit, the deposit as the price cap: nothing tells it apart.
        args = {"model": probe.model, "provider": b"", "deposit": probe.deposit,
                "max_price": probe.deposit, "min_reputation": 0, "expiry": number + SESSION_BLOCKS,
                "session_key": probe.key.public}  # fmt: skip
        self._send(replace(probe, sent=number, funding=False), Call("sessions", "open", args), payer)

    async def _serve_all(self, probe: Probe, serve: Serve) -> None:
        try:
            chain_id = system.ChainId.get(self.chain.state())
            cumulative = sum(probe.units[: probe.answered])
            for index in range(probe.answered, len(probe.requests)):
                if probe.in_flight:
                    break  # an answer lost to a restart: that seq is never sent again
                seq, raw = index + 1, probe.requests[index]
                cumulative += probe.units[index]
                signature = probe.key.sign(cheque_payload(chain_id, probe.session, seq, cumulative,
                                                          request_hash(raw)))  # fmt: skip
                cheque = {"seq": seq, "units": cumulative, "request_hash": request_hash(raw),
                          "signature": signature}  # fmt: skip
                probe = replace(probe, in_flight=True)
                self._save(probe)
                reply = await self._ask(serve, probe, {"op": "serve", "session": probe.session,
                                                       "cheque": cheque, "request": raw})  # fmt: skip
                if reply is None:
                    break
                if not reply.get("ok"):
                    log.info(
                        "known-answer session %s: request %d refused: %s", probe.name, seq, reply.get("code")
                    )
                    probe = replace(probe, in_flight=False)  # the desk logs nothing it refuses
                    break
                right = await self._right(probe, index, reply)
                log.log(logging.INFO if right else logging.WARNING, "known-answer session %s: the answer of %s "
                        "to request %d is %s", probe.name, probe.provider.hex()[:12], seq,
                        "right" if right else "wrong")  # fmt: skip
                probe = replace(
                    probe, answered=seq, in_flight=False, wrong=probe.wrong + ([] if right else [seq])
                )
                self._save(probe)
        finally:
            self.serving.discard(probe.name)
            if probe.name in self.probes:
                self._save(replace(probe, phase=WATCHING, served_until=self.chain.best_number(), sent=-1))

    async def _ask(self, serve: Serve, probe: Probe, message: dict[str, Any]) -> dict[str, Any] | None:
        """The desk's reply, or None when it did not answer in time (or could not be reached)."""
        deadline = trio.current_time() + UNKNOWN_SESSION_WAIT
        while True:
            reply: dict[str, Any] | None = None
            with trio.move_on_after(self.serve_timeout):
                try:
                    reply = await serve(probe.provider, message)
                except Exception as exc:
                    log.info("known-answer session %s: the provider did not answer: %s", probe.name, exc)
                    return None
            if reply is None:
                log.info("known-answer session %s: no answer in %.0f s", probe.name, self.serve_timeout)
                return None
            if reply.get("code") != "unknown_session" or trio.current_time() > deadline:
                return reply
            await trio.sleep(0.5)  # the provider's node has not seen the session yet

    async def _right(self, probe: Probe, index: int, reply: dict[str, Any]) -> bool:
        """Is the answer the known one, by the kind's rule?"""
        result, expected = reply.get("result"), probe.expected[index]
        if type(result) is not bytes or blake2b_256(result) != reply.get("result_hash"):
            return False
        if result == expected:
            return True
        try:
            reference, got = decode_result(expected), decode_result(result)
        except Exception:
            return False
        if not isinstance(got, dict) or not isinstance(reference, dict):
            return False
        try:
            verdict = await trio.to_thread.run_sync(KINDS[probe.kind].compare, reference, got)
        except Exception:
            return False
        return bool(verdict.match)

    def _watch(self, state: State, number: int, probe: Probe, due: bool) -> None:
        found = sessions.session(state, probe.session)
        if found is None:
            unsettled = [seq for seq in probe.wrong if seq not in probe.challenged]
            if unsettled:
                log.warning("known-answer session %s: %s never settled its wrong answers %s: not paid for them",
                            probe.name, probe.provider.hex()[:12], unsettled)  # fmt: skip
            self._drop(probe, "ended", logging.INFO)
            return
        payer = self.accounts[probe.account]
        settled = [seq for seq in probe.wrong if seq <= found.count]
        pending = [seq for seq in settled if not _challenged(state, probe.session, seq)]
        if pending and due:
            probe = replace(probe, sent=number, challenged=sorted({*probe.challenged, *pending}))
            self._save(probe)
            for seq in pending:
                log.warning("known-answer session %s: request %d challenged", probe.name, seq)
                self._submit(payer, Call("sessions", "challenge", {"session": probe.session, "seq": seq}))
            return
        waited = number - probe.served_until > WAIT_FOR_SETTLE
        every_wrong_settled = len(settled) == len(probe.wrong)
        if (
            found.status == sessions.SessionStatus.OPEN
            and due
            and not pending
            and (every_wrong_settled or waited)
        ):
            close = Call("sessions", "close", {"session": probe.session})
            self._send(replace(probe, sent=number), close, payer)

    # -- records and transactions ------------------------------------------------
    def _save(self, probe: Probe) -> None:
        self.records.put(probe.name, asdict(probe))
        self.probes[probe.name] = probe

    def _drop(self, probe: Probe, why: str, level: int = logging.WARNING) -> None:
        log.log(level, "known-answer session %s (session %d): %s", probe.name, probe.session, why)
        self.records.forget(probe.name)
        self.probes.pop(probe.name, None)

    def _send(self, probe: Probe, call: Call, key: Keypair | None = None) -> None:
        self._save(probe)  # first the record, then the transaction
        self._submit(key, call)

    def _submit(self, key: Keypair | None, call: Call) -> None:
        try:
            if key is None:
                self.chain.submit_call(call)
            else:
                self.chain.submit_call_as(key, call)
        except ValueError as exc:
            log.warning("known-answer session %s.%s refused: %s", call.pallet, call.name, exc)


def _challenged(state: State, session: int, seq: int) -> bool:
    """Is the leaf of `seq` challenged on chain (or its batch no longer kept)?"""
    index = seq - 1
    for kept in sessions.batches(state, session):
        if kept.first <= index < kept.count:
            return index in Challenged.get(state, batch_key(session, kept.index))
    return True  # no batch kept holds it: it cannot be challenged any more
