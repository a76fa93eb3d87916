"""Session requests between nodes: `/vcoin/<genesis>/serve/1`.

One request frame and one answer frame per stream, msgpack maps:
    {op: "hello"}                                  -> {ok, providers: [account]}
    {op: "serve", session, cheque, request}        -> {ok, seq, units, result, result_hash, leaf}
      with stream: true, an inference request's text first comes as {piece} frames
    {op: "tokenizer", session, request}            -> {ok, answer}
    any failure                                    -> {ok: false, code, message}
A frame that is not such a map costs its sender as garbage; a refused
request (a stale cheque, a closed session) is answered, never punished: an
honest user's node races the chain too. The requests being served at once
are bounded per peer and in all; past that the answer is `busy`.

`Desks` is how the user's side reaches a provider: this node's own desk
when it serves the account, otherwise the connected peer that says (hello)
it does.
"""

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import msgpack
import trio
from libp2p.custom_types import TProtocol

from node.p2p import STREAM_TIMEOUT, FrameTooLarge, Network, read_frame, write_frame
from node.peer_book import Offence
from node.serve_http_client import ask_over_http
from node.serve_limits import MAX_ANSWER_FRAME, MAX_REQUEST_FRAME
from offchain.serving import SERVE_TIMEOUT, ServeError, ServingDesk, StreamTo, piece_of

log = logging.getLogger("vcoin.serve")
MAX_PER_PEER = 8
MAX_IN_FLIGHT = 64
HELLO_SECONDS = 60.0  # how long a peer's list of provider accounts is trusted
ASK_AGAIN_SECONDS = 10.0  # between two rounds of hellos to every peer
MAX_PROVIDERS_PER_PEER = 16  # accounts one peer's hello may name (a node serves its own)
MAX_KNOWN_PROVIDERS = 1024


def serve_protocol(genesis_hash: bytes) -> TProtocol:
    return TProtocol(f"/vcoin/{genesis_hash[:8].hex()}/serve/1")


def _refusal(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "code": code, "message": message}


async def answer(desk: ServingDesk | None, message: Any, on_piece: StreamTo | None = None) -> dict[str, Any]:
    """What a desk answers one decoded request frame (also the local path)."""
    if type(message) is not dict or message.get("op") not in ("hello", "serve", "tokenizer"):
        raise ValueError("a serve request is a map with op hello, serve or tokenizer")
    if message["op"] == "hello":
        return {"ok": True, "providers": desk.providers() if desk is not None else []}
    if desk is None:
        return _refusal("not_provider", "this node serves no sessions")
    session = message.get("session")
    if type(session) is not int or session < 0:
        raise ValueError("a session id is a non-negative integer")
    try:
        if message["op"] == "tokenizer":
            request = message.get("request")
            if type(request) is not dict:
                raise ValueError("a tokenizer request is a map")
            return {"ok": True, "answer": await desk.tokenizer(session, request)}
        cheque, raw = message.get("cheque"), message.get("request")
        if type(cheque) is not dict or type(raw) is not bytes:
            raise ValueError("a serve request has a cheque map and the request's bytes")
        served = await desk.serve(session, cheque, raw, on_piece if message.get("stream") is True else None)
    except ServeError as exc:
        return _refusal(exc.code, str(exc))
    return {"ok": True, "seq": served.seq, "units": served.units, "result": served.result,
            "result_hash": served.result_hash, "leaf": served.leaf}  # fmt: skip


class ServeExchange:
    def __init__(self, network: Network, genesis_hash: bytes, desk: ServingDesk | None) -> None:
        self.network, self.desk = network, desk
        self.protocol = serve_protocol(genesis_hash)
        self.in_flight: dict[str, int] = {}
        self.providers: dict[bytes, tuple[Any, float]] = {}  # account -> (peer, when it said so)
        self.asked_at = -ASK_AGAIN_SECONDS
        network.set_stream_handler(self.protocol, self._serve)

    async def _serve(self, stream: Any) -> None:
        peer = stream.muxed_conn.peer_id
        key = str(peer)
        busy = self.in_flight.get(key, 0) >= MAX_PER_PEER or sum(self.in_flight.values()) >= MAX_IN_FLIGHT
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        try:
            if self.network.is_banned(peer):
                return
            with trio.fail_after(STREAM_TIMEOUT):
                frame = await read_frame(stream, MAX_REQUEST_FRAME)
            message = msgpack.unpackb(frame, raw=False, strict_map_key=False)
            if busy:
                reply = _refusal("busy", "this provider is serving as many requests as it takes")
            else:

                async def piece(text: str) -> None:
                    with trio.fail_after(STREAM_TIMEOUT):
                        await write_frame(stream, msgpack.packb({"piece": text}, use_bin_type=True))

                with trio.fail_after(SERVE_TIMEOUT + STREAM_TIMEOUT):
                    reply = await answer(self.desk, message, piece)
            with trio.fail_after(STREAM_TIMEOUT * 6):
                await write_frame(stream, msgpack.packb(reply, use_bin_type=True))
        except (FrameTooLarge, ValueError, msgpack.UnpackException) as exc:
            self.network.punish(peer, Offence.GARBAGE, f"bad serve request ({exc})")
        except Exception as exc:  # a hung-up or slow peer is only dropped
            log.debug("serve request from %s ended early: %s", peer, type(exc).__name__)
        finally:
            self.in_flight[key] -= 1
            if not self.in_flight[key]:
                del self.in_flight[key]
            with contextlib.suppress(Exception):
                await stream.close()

    async def ask(
        self, peer: Any, message: dict[str, Any], timeout: float, on_piece: StreamTo | None = None
    ) -> dict[str, Any]:
        """One request to a peer; its answer map (`ok` false with a code when
        refused); streamed pieces go to `on_piece` as they come."""
        with trio.fail_after(STREAM_TIMEOUT):
            stream = await self.network.host.new_stream(peer, [self.protocol])
        try:
            with trio.fail_after(timeout):
                await write_frame(stream, msgpack.packb(message, use_bin_type=True))
                while True:
                    reply = msgpack.unpackb(await read_frame(stream, MAX_ANSWER_FRAME), raw=False)
                    piece = piece_of(reply)
                    if piece is None:
                        break
                    if on_piece is None:
                        raise ServeError(
                            "unreachable", "the provider streamed an answer nobody asked to stream"
                        )
                    await on_piece(piece)
        finally:
            with contextlib.suppress(Exception):
                await stream.close()
        if type(reply) is not dict or type(reply.get("ok")) is not bool:
            self.network.punish(peer, Offence.INVALID, "a malformed serve answer")
            raise ServeError("unreachable", "the provider's node answered garbage")
        return reply

    async def find(self, account: bytes) -> Any | None:
        """The connected peer serving `account`, asking the peers not heard from lately."""
        now = trio.current_time()
        known = self.providers.get(account)
        if known is not None and now - known[1] < HELLO_SECONDS and known[0] in self.network.peers():
            return known[0]
        if now - self.asked_at < ASK_AGAIN_SECONDS:
            return None  # every peer was asked just now: a miss stays a miss for a while
        self.asked_at = now
        for peer in self.network.peers():
            try:
                reply = await self.ask(peer, {"op": "hello"}, STREAM_TIMEOUT)
            except Exception as exc:
                log.debug("hello to %s failed: %s", peer, exc)
                continue
            served = reply.get("providers")
            for who in (served if isinstance(served, list) else [])[:MAX_PROVIDERS_PER_PEER]:
                if type(who) is bytes and len(who) == 32:
                    self.providers.pop(who, None)
                    self.providers[who] = (peer, now)
            while len(self.providers) > MAX_KNOWN_PROVIDERS:  # the oldest answers go first
                del self.providers[next(iter(self.providers))]
        known = self.providers.get(account)
        return known[0] if known is not None and known[1] == now else None


class Desks:
    """Requests to a session's provider, wherever it runs: this node's own
    desk, a connected peer that says it serves the account, or the HTTP
    address the provider published on chain (`node.serve_http`)."""

    def __init__(
        self, desk: ServingDesk | None, exchange: ServeExchange | None,
        url_of: Callable[[bytes], str] = lambda _: "",
    ) -> None:  # fmt: skip
        self.desk, self.exchange, self.url_of = desk, exchange, url_of

    async def call(
        self, provider: bytes, message: dict[str, Any], on_piece: StreamTo | None = None
    ) -> dict[str, Any]:
        if self.desk is not None and provider in self.desk.providers():
            return await answer(self.desk, message, on_piece)
        timeout = SERVE_TIMEOUT + 2 * STREAM_TIMEOUT
        peer = None if self.exchange is None else await self.exchange.find(provider)
        if peer is None:
            url = self.url_of(provider)
            if not url:
                raise ServeError(
                    "unreachable", "no connected peer serves this provider, and it has no API address"
                )
            try:
                return await ask_over_http(url, message, timeout, on_piece)
            except ServeError:
                raise
            except Exception as exc:
                raise ServeError(
                    "unreachable", f"the provider's API did not answer ({type(exc).__name__})"
                ) from None
        assert self.exchange is not None
        try:
            return await self.exchange.ask(peer, message, timeout, on_piece)
        except ServeError:
            raise
        except Exception as exc:
            self.exchange.providers.pop(provider, None)
            raise ServeError(
                "unreachable", f"the provider's node did not answer ({type(exc).__name__})"
            ) from None
