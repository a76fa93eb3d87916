"""Sessions on the user's side of the API: one per (API key, model), opened
from the key's account when first needed, with a session key of its own,
and replaced when its deposit runs out or its provider stops answering
(the old one is closed; the chain refunds what was not spent).

Each request is priced as the chain prices it (`SessionRequest.units` x
the session's price), charged against the key's limit only once answered,
and paid by a cheque the provider can settle: the user pays for what was
answered (a provider that dies after taking a cheque may still settle that
one request).
"""

import logging
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

import msgpack
import trio

from node.api_keys import ApiKey, ApiKeys
from node.rpc_vcoin import extrinsic_status
from node.serve_protocol import Desks
from node.state_pruning import StatePruned
from node.txpool import PoolError
from offchain.serving import PUBLISH_GRACE, SETTLE_EVERY, ServeError, StreamTo
from runtime.codec import blake2b_256
from runtime.constants import DEFAULT_SESSION_DEPOSIT
from runtime.crypto import Keypair
from runtime.pallets import registry, session_audits, sessions
from runtime.session_request import encode_request, parse_request, request_hash
from runtime.types import Call, Extrinsic, cheque_payload

log = logging.getLogger("vcoin.api")
# base units reserved per session, less when the key's limit is lower: a
# deposit lasting thousands of requests keeps opens and settles rare
API_DEPOSIT = DEFAULT_SESSION_DEPOSIT
API_SESSION_BLOCKS = 3_600
OPEN_TIMEOUT = 60.0  # seconds for the open to be included
UNKNOWN_SESSION_WAIT = 15.0  # seconds the provider's node may lag behind ours
ATTEMPTS = 3
# blocks a provider may leave answered requests unsettled (its desk settles
# at least every offchain.serving.SETTLE_EVERY while it is owed)
UNSETTLED_BLOCKS = 3 * SETTLE_EVERY
DEAD_SECONDS = 120.0  # a provider whose node did not answer is not chosen again for this long


class ApiError(Exception):
    """An answer in OpenAI's error shape: HTTP status, type, code, message."""

    def __init__(self, status: int, code: str, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.code, self.kind = status, code, kind


class BrokerHost(Protocol):
    @property
    def chain(self) -> Any: ...

    @property
    def pool(self) -> Any: ...

    def submit_extrinsic(self, raw: bytes, local: bool = False, journal: bool = True) -> bytes: ...


@dataclass
class ClientSession:
    id: int
    provider: bytes
    price: int
    deposit: int
    key: Keypair  # signs the cheques
    owner: Keypair  # the account that opened it and closes it
    seq: int = 0
    units: int = 0

    def can_pay(self, units: int) -> bool:
        return (self.units + units) * self.price <= self.deposit


@dataclass(frozen=True)
class Answer:
    payload: dict[str, Any]
    units: int
    cost: int
    session: int
    seq: int


class Relay:
    """Pieces on their way to the API's client: a client that went away
    stops the relay, never the provider's answer (nor marks it dead)."""

    def __init__(self, to: StreamTo) -> None:
        self.to, self.sent, self.gone = to, 0, False

    async def piece(self, text: str) -> None:
        if self.gone:
            return
        try:
            await self.to(text)
            self.sent += 1
        except Exception:
            self.gone = True


class SessionBroker:
    def __init__(self, node: BrokerHost, desks: Desks, keys: ApiKeys) -> None:
        self.node, self.desks, self.keys = node, desks, keys
        self.sessions: dict[tuple[str, bytes], ClientSession] = {}
        self.locks: dict[tuple[str, bytes], trio.Lock] = {}
        self.dead: dict[bytes, float] = {}  # provider -> until when it is avoided

    @property
    def chain_id(self) -> bytes:
        return bytes(self.node.chain.spec.chain_id)

    async def request(
        self,
        key: ApiKey,
        account: Keypair,
        model: registry.Model,
        kind: str,
        value: Any,
        options: dict[str, int],
        on_piece: StreamTo | None = None,
    ) -> Answer:
        """The provider's answer; with `on_piece`, an inference's text also
        goes there as it is generated (never retried once a piece went out)."""
        raw = encode_request(kind, value, options)
        relay = None if on_piece is None else Relay(on_piece)
        try:
            units = parse_request(raw, model.kind).units(model.params_millions)
        except ValueError as exc:
            raise ApiError(400, "invalid_request", str(exc)) from None
        slot = (key.id, model.hash)
        async with self.locks.setdefault(slot, trio.Lock()):
            for _ in range(ATTEMPTS):
                current = await self._session(slot, key, account, model, units)
                cost = units * current.price
                left = key.left()
                if left is not None and cost > left:
                    raise ApiError(402, "insufficient_quota", "this API key has reached its spending limit")
                reply = await self._serve(current, units, raw, relay)
                if reply is None:
                    self.sessions.pop(slot, None)
                    if relay is not None and relay.sent:
                        raise ApiError(
                            502, "provider_error", "the provider stopped mid-answer", "server_error"
                        )
                    continue
                current.seq, current.units = current.seq + 1, current.units + units
                self.keys.charge(key, cost)
                payload = msgpack.unpackb(reply["result"], raw=False)
                return Answer(payload, units, cost, current.id, current.seq)
        raise ApiError(503, "provider_unavailable", "no provider of this model answered", "server_error")

    async def tokenizer(
        self, key: ApiKey, account: Keypair, model: registry.Model, request: dict[str, Any]
    ) -> dict[str, Any]:
        slot = (key.id, model.hash)
        async with self.locks.setdefault(slot, trio.Lock()):
            current = await self._session(slot, key, account, model, 0)
        reply = await self._call(current, {"op": "tokenizer", "session": current.id, "request": request})
        if reply is None or not reply.get("ok"):
            raise ApiError(503, "provider_unavailable", "the provider could not read the model's tokenizer")
        return dict(reply["answer"])

    async def _serve(
        self, current: ClientSession, units: int, raw: bytes, relay: "Relay | None" = None
    ) -> dict[str, Any] | None:
        """The provider's answer, or None when this session cannot serve any more."""
        signed = current.key.sign(cheque_payload(self.chain_id, current.id, current.seq + 1,
                                                 current.units + units, request_hash(raw)))  # fmt: skip
        cheque = {"seq": current.seq + 1, "units": current.units + units, "request_hash": request_hash(raw),
                  "signature": signed}  # fmt: skip
        message = {
            "op": "serve",
            "session": current.id,
            "cheque": cheque,
            "request": raw,
            "stream": relay is not None,
        }
        reply = await self._call(current, message, relay)
        if reply is None:
            return None
        if reply.get("ok"):
            result = reply.get("result")
            if type(result) is not bytes or blake2b_256(result) != reply.get("result_hash"):
                log.warning("session %d: the provider's result does not match its hash", current.id)
                return None
            return reply
        code = reply.get("code")
        if code in ("bad_request", "too_large"):
            raise ApiError(400, "invalid_request", str(reply.get("message")))
        if code == "failed":
            raise ApiError(502, "provider_error", str(reply.get("message")), "server_error")
        if code == "busy":
            raise ApiError(503, "provider_busy", str(reply.get("message")), "server_error")
        log.info("session %d ends here: %s (%s)", current.id, code, reply.get("message"))
        await self._close(current)
        return None

    async def _call(
        self, current: ClientSession, message: dict[str, Any], relay: "Relay | None" = None
    ) -> dict[str, Any] | None:
        """The provider's reply; waits while its node has not seen the session
        yet; None (and the session closed) when it cannot be reached."""
        deadline = trio.current_time() + UNKNOWN_SESSION_WAIT
        while True:
            try:
                reply = await self.desks.call(
                    current.provider, message, None if relay is None else relay.piece
                )
            except ServeError as exc:
                log.warning(
                    "session %d: provider unreachable (%s); it is avoided for a while", current.id, exc
                )
                self.dead[current.provider] = trio.current_time() + DEAD_SECONDS
                await self._close(current)
                return None
            if reply.get("code") != "unknown_session" or trio.current_time() > deadline:
                return reply
            await trio.sleep(0.2)

    async def _session(
        self, slot: tuple[str, bytes], key: ApiKey, account: Keypair, model: registry.Model, units: int
    ) -> ClientSession:
        current = self.sessions.get(slot)
        if current is not None and current.can_pay(units) and self._open_on_chain(current):
            return current
        if current is not None:
            await self._close(current)
        fresh = await self._open(key, account, model, units)
        self.sessions[slot] = fresh
        return fresh

    def _open_on_chain(self, current: ClientSession) -> bool:
        """Whether to keep using the session: open, not about to expire, and its
        provider settling and publishing what was sampled (one that leaves
        answered requests unsettled, or sampled ones unpublished, keeps them
        from verification: the session moves on, and new ones avoid it)."""
        found = sessions.session(self.node.chain.state, current.id)
        if found is None:
            return True  # not yet in our best block
        best = self.node.chain.best.number
        lagging = current.seq > found.seq and best - max(found.settled_at, found.opened_at) > UNSETTLED_BLOCKS
        if lagging:
            log.warning("session %d: the provider has not settled for %d blocks; moving on", current.id,
                        best - max(found.settled_at, found.opened_at))  # fmt: skip
        withholding = session_audits.withholding(self.node.chain.state, found.provider, best, PUBLISH_GRACE)
        if withholding:  # its answers are not shown to be checked: avoid it until its slash
            log.warning("session %d: the provider withholds sampled answers; moving on", current.id)
            self.dead[found.provider] = trio.current_time() + DEAD_SECONDS
        return (
            found.status == sessions.SessionStatus.OPEN
            and best + 2 < found.expiry
            and not lagging
            and not withholding
        )

    def submit(self, account: Keypair, call: Call) -> bytes:
        nonce = self.node.pool.next_nonce(self.node.chain.state, account.public)
        raw = Extrinsic.sign(account, self.chain_id, nonce, call).encode()
        try:
            return bytes(self.node.submit_extrinsic(raw))
        except PoolError as exc:
            raise ApiError(402, "insufficient_funds", f"the account cannot pay: {exc}") from None

    async def _open(self, key: ApiKey, account: Keypair, model: registry.Model, units: int) -> ClientSession:
        left = key.left()
        deposit = API_DEPOSIT if left is None else min(API_DEPOSIT, left)
        if deposit < max(units, 1):
            raise ApiError(402, "insufficient_quota", "this API key has reached its spending limit")
        session_key = Keypair.generate()
        args = {"model": model.hash, "provider": self._named(model), "deposit": deposit, "max_price": deposit,
                "min_reputation": 0, "expiry": self.node.chain.best.number + API_SESSION_BLOCKS,
                "session_key": session_key.public}  # fmt: skip
        tx = self.submit(account, Call("sessions", "open", args))
        status = await self.included(tx)
        if not status["success"]:
            error = status.get("error")
            if error == "TooManySessions":
                raise ApiError(429, "too_many_sessions", "the account has as many sessions open as the chain "
                               "allows; closed ones end within 20 blocks", "rate_limit_error")  # fmt: skip
            if error in ("NoProvider", "NotServing", "PriceTooHigh", "ReputationTooLow", "ProviderBusy"):
                raise ApiError(503, "provider_unavailable", f"no provider serves {model.name} now ({error})",
                               "server_error")  # fmt: skip
            raise ApiError(
                402, "insufficient_funds", f"the session could not open: {error} ({status.get('detail')})"
            )
        opened = next(e for e in status["events"] if e["pallet"] == "sessions" and e["name"] == "Opened")
        session_id = int(opened["data"]["session"])
        # The state of the block that opened it: the best state may not
        # have moved to that block yet when its transaction is found.
        found = sessions.session(self._state_of(status["blockHash"]), session_id)
        if found is None:
            raise ApiError(503, "provider_unavailable", "the session ended at once", "server_error")
        log.info("API key %s: session %d opened with deposit %d", key.id, session_id, deposit)
        return ClientSession(session_id, found.provider, found.price, found.deposit, session_key, account)

    def _state_of(self, block_hex: str) -> Any:
        chain = self.node.chain
        try:
            return chain.state_at(bytes.fromhex(block_hex.removeprefix("0x"))) or chain.state
        except StatePruned:  # far behind already: the best state holds it
            return chain.state

    def _named(self, model: registry.Model) -> bytes:
        """No one (the chain draws a provider), unless some provider of the
        model did not answer lately or withholds sampled answers: then any
        other, at random (one chosen by every client would draw them all)."""
        now, state, best = trio.current_time(), self.node.chain.state, self.node.chain.best.number
        self.dead = {who: until for who, until in self.dead.items() if until > now}
        serving = registry.Serving.get(state, model.hash)
        avoided = {
            who for who in serving
            if who in self.dead or session_audits.withholding(state, who, best, PUBLISH_GRACE)
        }  # fmt: skip
        if not avoided:
            return b""
        alive = [who for who in sorted(serving) if who not in avoided]
        if not alive:
            raise ApiError(
                503, "provider_unavailable", f"no provider of {model.name} answers now", "server_error"
            )
        return bytes(secrets.choice(alive))

    async def included(self, tx: bytes) -> dict[str, Any]:
        deadline = trio.current_time() + OPEN_TIMEOUT
        while trio.current_time() < deadline:
            status = extrinsic_status(self.node.chain, tx in self.node.pool, tx)
            if status["status"] in ("inBlock", "finalized"):
                return status
            if status["status"] == "unknown":
                break
            await trio.sleep(0.1)
        raise ApiError(
            503, "chain_unavailable", "the session's opening was not included in time", "server_error"
        )

    async def _close(self, current: ClientSession) -> None:
        """Close a session this side gives up (the provider settles what it
        served in the close window; the chain refunds the rest)."""
        found = sessions.session(self.node.chain.state, current.id)
        if found is None or found.status != sessions.SessionStatus.OPEN:
            return
        try:
            self.submit(current.owner, Call("sessions", "close", {"session": current.id}))
        except ApiError as exc:
            log.warning("session %d: could not close it: %s", current.id, exc)
