"""ASGI apps and their server: JSON-RPC over HTTP POST (and, given a
WebSocket app, over WebSocket on the same port), served by hypercorn on trio."""

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from node.dashboard_app import Dashboard
from node.rpc import INVALID_REQUEST, RpcHandler

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("vcoin.rpc")


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
    too_large = json.dumps(
        {
            "jsonrpc": "2.0",
            "error": {"code": INVALID_REQUEST, "message": f"Request larger than {max_body} bytes"},
            "id": None,
        }
    ).encode()
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
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_body:
                await _respond(send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        answer = await answer_between(handler, b"".join(chunks))
        if answer is None:
            await _respond(send, 204, b"")
        else:
            await _respond(send, 200, answer)

    return with_lifespan(app, websocket)


async def serve_app(
    app: App, host: str, port: int, what: str, task_status: Any = trio.TASK_STATUS_IGNORED,
    max_ws_message: int | None = None,
) -> None:  # fmt: skip
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
