"""ASGI apps and their server: JSON-RPC over HTTP POST (and, given a
WebSocket app, over WebSocket on the same port), served by hypercorn on trio."""

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.events import Closed, Event, RawData
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.trio import serve
from hypercorn.trio.tcp_server import TCPServer

from node.dashboard_app import Dashboard
from node.rpc import INVALID_REQUEST, RpcHandler

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("vcoin.rpc")
# A request body must arrive within BODY_SECONDS plus its size at BODY_RATE
# bytes a second: one that never ends would hold its connection, and
# whatever slot the request took, forever (hypercorn's keep-alive timer
# stops once the headers are in); a large upload on a slow link still fits.
BODY_SECONDS = 30.0
BODY_RATE = 32 * 1024
# A client that takes none of an answer's next SEND_PIECE bytes for this
# long is not reading: its connection is closed.
SEND_STALL_SECONDS = 30.0
SEND_PIECE = 64 * 1024
# Batches answered at once: each answer is built whole before it is sent (up
# to the handler's cap, tens of MiB), so their number bounds the memory.
BATCHES_AT_ONCE = 2


class BodyRefused(Exception):
    """A request body past its size or its time: answered with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_body(receive: Receive, limit: int, grace: float | None = None) -> bytes | None:
    """The request's whole body, or None when the client went away;
    `grace` in place of BODY_SECONDS for a route whose bodies are small."""
    chunks, size = [], 0
    grace = BODY_SECONDS if grace is None else grace
    start = trio.current_time() + grace
    while True:
        message: dict[str, Any] | None = None
        with trio.move_on_at(start + size / BODY_RATE):
            message = await receive()
        if message is None:
            raise BodyRefused(
                408,
                f"the request body did not arrive in time ({grace:g} s, then {BODY_RATE} bytes/s)",
            )
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyRefused(413, f"a request body is at most {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def answer_between(handler: RpcHandler, body: bytes, max_answer: int | None = None) -> bytes | None:
    """The handler's answer, letting the node's other tasks run after each
    call of a batch: a batch of costly calls must not stall block authoring."""
    steps = handler.steps(body, max_answer)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        await trio.sleep(0)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def with_lifespan(inner: App, websocket: App | None = None) -> App:
    """Answer ASGI lifespan events for an app that speaks HTTP (and
    WebSocket when `websocket` is given; else upgrades are refused)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            await inner(scope, receive, send)
        elif scope["type"] == "websocket":
            if websocket is None:
                await send({"type": "websocket.close", "code": 1003})
            else:
                await websocket(scope, receive, send)

    return app


def rpc_app(handler: RpcHandler, max_body: int, websocket: App | None = None) -> App:
    def refused(message: str) -> bytes:
        return json.dumps(
            {"jsonrpc": "2.0", "error": {"code": INVALID_REQUEST, "message": message}, "id": None}
        ).encode()

    too_large = refused(f"Request larger than {max_body} bytes")
    batches = trio.Semaphore(BATCHES_AT_ONCE)
    dashboard = Dashboard()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "GET" and scope["path"] == "/health":
            await _respond(send, 200, b'{"ok":true}')
            return
        if scope["method"] in ("GET", "HEAD"):  # the web dashboard; JSON-RPC stays POST
            await dashboard(scope, send)
            return
        if scope["method"] != "POST":
            await _respond(send, 405, b'{"error":"use POST with a JSON-RPC 2.0 body"}')
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body:
            await _respond(send, 413, too_large)
            return
        try:
            body = await read_body(receive, max_body)
        except BodyRefused as exc:
            await _respond(send, exc.status, too_large if exc.status == 413 else refused(str(exc)))
            return
        if body is None:
            return
        if body[:3] == b"\xef\xbb\xbf" or b"\x00" in body[:4]:
            # JSON between systems is UTF-8 without a byte-order mark (RFC 8259);
            # json.loads would take UTF-16 and 32 too, and hide a batch from the test below
            await _respond(send, 400, refused("a JSON-RPC body is UTF-8 without a byte-order mark"))
            return
        if body.lstrip()[:1] == b"[":  # a batch: its answer may be up to the handler's cap
            async with batches:
                answer = await answer_between(handler, body)
        else:
            answer = await answer_between(handler, body)
        if answer is None:
            await _respond(send, 204, b"")
        else:
            await _respond(send, 200, answer)

    return with_lifespan(app, websocket)


def _bound_sends() -> None:
    """Give up on a client that reads nothing for SEND_STALL_SECONDS.

    hypercorn writes each answer inside a shielded cancel scope, so a client
    that never reads (a WebSocket subscriber, pipelined HTTP requests) holds
    its connection, its task and its slot for as long as it stays connected:
    no cancellation reaches the write. Here the write goes in pieces, each
    with its own deadline inside the shield; a stalled piece closes the
    stream, which ends the connection as a client's disconnect would."""
    if getattr(TCPServer.protocol_send, "bounded", False):
        return

    async def protocol_send(self: TCPServer, event: Event) -> None:
        if not isinstance(event, RawData):
            return await unbounded(self, event)
        async with self.send_lock:
            try:
                with trio.CancelScope(shield=True):
                    data = memoryview(event.data)
                    for start in range(0, len(data), SEND_PIECE):
                        with trio.move_on_after(SEND_STALL_SECONDS) as stall:
                            await self.stream.send_all(data[start : start + SEND_PIECE])
                        if stall.cancelled_caught:
                            log.info("HTTP client %s stopped reading: closed", self.protocol.client)
                            await self.stream.aclose()
                            raise trio.ClosedResourceError
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await self.protocol.handle(Closed())
        return None

    unbounded = TCPServer.protocol_send
    protocol_send.bounded = True  # type: ignore[attr-defined]
    TCPServer.protocol_send = protocol_send  # type: ignore[method-assign]


def _http1_only() -> None:
    """Serve HTTP/1.1 only: no cleartext HTTP/2 (`h2c`, by upgrade or by
    prior knowledge), which hypercorn accepts unasked. Under HTTP/2 an
    answer waits for the client's flow-control window, so a client that
    opens none holds the request, and its slot, without ever being written
    to: no write stalls, so `_bound_sends` never sees it. The node's
    clients (the openai package, browsers over plain HTTP, Prometheus,
    polkadot-js) all speak HTTP/1.1."""
    if getattr(H11Protocol._check_protocol, "http1_only", False):
        return

    async def check_protocol(self: H11Protocol, event: Any) -> None:
        return None  # the request is served as the HTTP/1.1 it came as

    check_protocol.http1_only = True  # type: ignore[attr-defined]
    H11Protocol._check_protocol = check_protocol  # type: ignore[method-assign]


async def serve_app(
    app: App, host: str, port: int, what: str, task_status: Any = trio.TASK_STATUS_IGNORED,
    max_ws_message: int | None = None,
) -> None:  # fmt: skip
    _bound_sends()
    _http1_only()
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("vcoin.http")
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = 30.0
    config.h11_max_incomplete_size = 32 * 1024
    if max_ws_message is not None:  # hypercorn closes with 1009 past this
        config.websocket_max_message_size = max_ws_message
    log.info("%s listening on http://%s:%d", what, host, port)
    await serve(app, config, task_status=task_status)  # type: ignore[arg-type]
