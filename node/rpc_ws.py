"""JSON-RPC over WebSocket on the RPC port (ASGI `websocket` scopes).

Every ordinary method answers as over HTTP (`RpcHandler`), and the heads
subscriptions of `node.rpc_subscriptions` live here. Bounds
(`node.rpc_ws_clients`): at most `HeadsHub.max_connections` clients, and
`max_per_address` from one address (beyond either the upgrade is refused
with HTTP 503); a client with no subscription that sends nothing for
`idle_seconds` is closed (1000); `max_message` bytes a request (a larger
one up to hypercorn's limit gets a JSON-RPC error and the connection
stays; beyond it hypercorn closes with 1009); no compression
(`node.ws_deflate`); a client that leaves its outbox full (in messages or
bytes) is dropped, and one that does not read its answers stops being
read. A batch's calls run one at a time with the node's other tasks in
between, and its answer is cut at the outbox's byte budget.

A browser lets any web page open a WebSocket to 127.0.0.1; like Substrate's
default `--rpc-cors`, only pages of this host (the dashboard on this port)
or of localhost may: another Origin is refused with 403. Clients that are
not browsers send no Origin and are let in.
"""

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import trio

from node.http import Receive, Scope, Send, answer_between
from node.rpc import INVALID_REQUEST, RpcHandler
from node.rpc_subscriptions import METHODS, HeadsHub
from node.rpc_ws_clients import IDLE_SECONDS, Connection
from node.ws_deflate import refuse_compression

log = logging.getLogger("vcoin.rpc")
HUB_METHODS = frozenset(METHODS)
ANSWER_PATIENCE = 10.0  # seconds an answer may wait for room in the outbox
BUSY = json.dumps({"error": "too many WebSocket connections; try again later"}).encode()
FOREIGN = json.dumps(
    {"error": "WebSocket RPC is open to pages of this node's host or localhost only"}
).encode()
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def origin_allowed(scope: Scope) -> bool:
    headers = dict(scope.get("headers", []))
    origin = headers.get(b"origin")
    if origin is None:
        return True
    try:
        parts = urlsplit(origin.decode("latin-1"))
        return parts.hostname in LOCAL_HOSTS or parts.netloc.encode("latin-1") == headers.get(b"host")
    except ValueError:
        return False


def too_large(max_message: int) -> str:
    error = {"code": INVALID_REQUEST, "message": f"Request larger than {max_message} bytes"}
    return json.dumps({"jsonrpc": "2.0", "error": error, "id": None})


def client_address(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


class WebSocketRpc:
    def __init__(
        self, handler: RpcHandler, hub: HeadsHub, max_message: int, idle_seconds: float = IDLE_SECONDS
    ) -> None:
        refuse_compression()
        self.handler = handler
        self.hub = hub
        self.max_message = max_message
        self.idle_seconds = idle_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        if not origin_allowed(scope):
            await self._refuse(scope, send, 403, FOREIGN)
            return
        connection = self.hub.open(client_address(scope))
        if connection is None:
            await self._refuse(scope, send, 503, BUSY)
            return
        try:
            await send({"type": "websocket.accept"})
            connection.last_active = trio.current_time()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer, connection, send)
                nursery.start_soon(self._watch, connection, nursery.cancel_scope)
                nursery.start_soon(self._expire, connection, nursery.cancel_scope)
                await self._reader(connection, receive)
                nursery.cancel_scope.cancel()
            if connection.kicked.is_set():  # a bounded goodbye: the client may not read it
                with trio.move_on_after(1.0):
                    await send({"type": "websocket.close", "code": 1000, "reason": connection.why})
        finally:
            self.hub.close(connection)

    async def _refuse(self, scope: Scope, send: Send, status: int, body: bytes) -> None:
        if "websocket.http.response" in (scope.get("extensions") or {}):
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008 if status == 403 else 1013})

    async def _watch(self, connection: Connection, scope: trio.CancelScope) -> None:
        """A dropped client: cancelling its tasks ends the app, and hypercorn the socket."""
        await connection.kicked.wait()
        log.info("WebSocket client %s dropped: %s", connection.address, connection.why)
        # cancelled first: its tasks end as cancelled, not on a closed outbox
        scope.cancel()
        self.hub.close(connection)  # its slot now: its last write may take a while to give up

    async def _expire(self, connection: Connection, scope: trio.CancelScope) -> None:
        """Close a client that neither asks nor listens, so it holds no slot."""
        while True:
            deadline = connection.last_active + self.idle_seconds
            if trio.current_time() < deadline:
                await trio.sleep_until(deadline)
            elif connection.idle():
                connection.kick(f"idle for {self.idle_seconds:g} s without a subscription")
                return
            else:  # subscribed: it listens; look again later
                await trio.sleep(self.idle_seconds)

    async def _writer(self, connection: Connection, send: Send) -> None:
        async for text in connection.inbox:
            await send({"type": "websocket.send", "text": text})
            connection.sent(text)

    async def _reader(self, connection: Connection, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return  # websocket.disconnect
            connection.last_active = trio.current_time()
            data: Any = message.get("text")
            raw = data.encode() if isinstance(data, str) else (message.get("bytes") or b"")
            if len(raw) > self.max_message:
                await self._reply(connection, too_large(self.max_message))
                continue
            try:
                await self._answer(connection, raw)
            except Exception:  # isolated: one bad request never ends the socket or the node
                log.exception("WebSocket request from %s failed", connection.address)

    async def _reply(self, connection: Connection, text: str) -> None:
        """Wait a while for room (a client reading slowly only slows its own
        requests: the next is not read meanwhile), then drop a client that
        does not read its answers."""
        with trio.move_on_after(ANSWER_PATIENCE) as waited:
            await connection.put(text)
        if waited.cancelled_caught:
            connection.kick("it does not read its answers")

    async def _answer(self, connection: Connection, raw: bytes) -> None:
        # Only a request that names a subscription method is parsed here;
        # the rest (batches included) goes to the handler as over HTTP.
        request = None
        if b"ubscribe" in raw:
            try:
                request = json.loads(raw)
            except (ValueError, RecursionError):
                request = None
        method = request.get("method") if isinstance(request, dict) else None
        if isinstance(request, dict) and isinstance(method, str) and method in HUB_METHODS:
            answer = self.hub.call(connection, request)
            if answer is not None:
                await self._reply(connection, json.dumps(answer))
                self.hub.first(connection, answer)
            return
        reply = await answer_between(self.handler, raw, connection.max_queued)
        if reply is not None:
            await self._reply(connection, reply.decode())
