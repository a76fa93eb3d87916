"""The WebSocket RPC app's bounds, driven in-process through ASGI: a client
that stops reading is dropped while the node's publishing never waits, and
connections past the limit are refused before the upgrade."""

import json
from typing import Any

import trio
import trio.testing

from node.rpc import RpcHandler
from node.rpc_subscriptions import NEW, OUTBOX, HeadsHub, notification
from node.rpc_ws import WebSocketRpc, origin_allowed
from runtime.types import Header

SCOPE: dict[str, Any] = {"type": "websocket", "extensions": {"websocket.http.response": {}}}
HEADER = Header(bytes(32), 7, bytes(32), bytes(32), 9, bytes(32))


def subscribe(request_id: int) -> dict[str, Any]:
    text = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "chain_subscribeNewHeads"})
    return {"type": "websocket.receive", "text": text}


def test_a_client_that_stops_reading_is_dropped_and_publishing_never_waits() -> None:
    hub = HeadsHub()
    app = WebSocketRpc(RpcHandler({}), hub, 1_000)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "websocket.send":
            await trio.sleep_forever()  # the client reads nothing: its socket is full

    async def main() -> None:
        inbound, receive = trio.open_memory_channel[dict[str, Any]](4)
        await inbound.send({"type": "websocket.connect"})
        await inbound.send(subscribe(1))
        ended = trio.Event()

        async def serve() -> None:
            await app(SCOPE, receive.receive, send)
            ended.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            await trio.testing.wait_all_tasks_blocked()
            (connection,) = hub.connections
            assert list(connection.subscriptions.values()) == [NEW]
            for _ in range(OUTBOX + 2):
                hub.publish(NEW, HEADER)  # synchronous: it cannot wait on the client
            with trio.fail_after(5):
                await ended.wait()
        assert not hub.connections and sent[0]["type"] == "websocket.accept"

    trio.run(main)


def test_connections_past_the_limit_are_refused_with_503() -> None:
    hub = HeadsHub(max_connections=1)
    app = WebSocketRpc(RpcHandler({}), hub, 1_000)
    assert hub.open() is not None  # the one allowed

    async def main() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "websocket.connect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(SCOPE, receive, send)
        return sent

    sent = trio.run(main)
    assert sent[0] == {"type": "websocket.http.response.start", "status": 503, "headers": sent[0]["headers"]}
    assert b"too many" in sent[1]["body"]


def test_a_notification_is_substrates_shape() -> None:
    message = json.loads(notification(NEW, "abc", json.dumps({"number": 3})))
    assert message == {
        "jsonrpc": "2.0",
        "method": "chain_newHead",
        "params": {"subscription": "abc", "result": {"number": 3}},
    }


def test_subscription_calls_are_checked() -> None:
    hub = HeadsHub(max_subscriptions=1)
    connection = hub.open()
    assert connection is not None

    def call(method: str, *params: Any, request_id: Any = 1) -> Any:
        return hub.call(
            connection, {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}
        )

    first = call("chain_subscribeFinalisedHeads")["result"]
    assert call("chain_subscribeNewHeads")["error"]["code"] == -32006
    assert call("chain_unsubscribeNewHeads", first)["result"] is False  # another kind's id
    assert call("chain_unsubscribeFinalizedHeads", 5)["error"]["code"] == -32602
    assert call("chain_unsubscribeFinalizedHeads", first)["result"] is True
    assert (
        hub.call(connection, {"jsonrpc": "2.0", "method": "chain_subscribeNewHeads"}) is None
    )  # notification
    assert call("chain_subscribeNewHeads", request_id=[1])["error"]["code"] == -32600


def test_pages_of_other_sites_are_refused() -> None:
    def scope(origin: bytes | None) -> dict[str, Any]:
        headers = [(b"host", b"10.0.0.5:9944")] + ([(b"origin", origin)] if origin else [])
        return {**SCOPE, "headers": headers}

    for allowed in (None, b"http://127.0.0.1:8000", b"http://localhost", b"http://10.0.0.5:9944"):
        assert origin_allowed(scope(allowed))
    for refused in (b"https://evil.example", b"http://10.0.0.5:9945", b"null", b"http://[bad"):
        assert not origin_allowed(scope(refused))
