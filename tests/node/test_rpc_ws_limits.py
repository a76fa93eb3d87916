"""What one WebSocket client may hold of the node, driven in-process through
ASGI: idle clients are closed, one address gets a share of the slots, the
outbox is bounded in bytes, a batch lets the node run between its calls,
compression is declined, and a failing method cannot flood the log."""

import json
import logging
from typing import Any

import pytest
import trio
import trio.testing
from hypercorn.protocol.ws_stream import Handshake

from node.rpc import RpcHandler
from node.rpc_subscriptions import HeadsHub
from node.rpc_ws import WebSocketRpc
from node.rpc_ws_clients import Clients, Connection

Message = dict[str, Any]


def scope(address: str = "127.0.0.1") -> dict[str, Any]:
    return {"type": "websocket", "client": (address, 5000), "extensions": {"websocket.http.response": {}}}


def request(method: str, request_id: int = 1, **extra: Any) -> Message:
    text = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": [], **extra})
    return {"type": "websocket.receive", "text": text}


class Client:
    """One in-process client: what it sends, what the app sent back, and when the app ended."""

    def __init__(self, app: WebSocketRpc, address: str = "127.0.0.1") -> None:
        self.app, self.address = app, address
        self.to_app, self._from_client = trio.open_memory_channel[Message](64)
        self.sent: list[Message] = []
        self.ended = trio.Event()
        self.to_app.send_nowait({"type": "websocket.connect"})  # first, whatever is sent next

    async def run(self) -> None:
        await self.app(scope(self.address), self._from_client.receive, self._send)
        self.ended.set()

    async def _send(self, message: Message) -> None:
        self.sent.append(message)

    def answers(self) -> list[Any]:
        return [json.loads(m["text"]) for m in self.sent if m["type"] == "websocket.send"]


def test_an_idle_client_is_closed_and_a_subscribed_one_is_not() -> None:
    hub = HeadsHub()
    app = WebSocketRpc(RpcHandler({"ping": lambda params: "pong"}), hub, 1_000, idle_seconds=30)

    async def main() -> None:
        idle, talking, listening = Client(app), Client(app), Client(app)
        async with trio.open_nursery() as nursery:
            for client in (idle, talking, listening):
                nursery.start_soon(client.run)
            await listening.to_app.send(request("chain_subscribeNewHeads"))
            for _ in range(5):  # a request every 20 s keeps a client
                await trio.sleep(20)
                await talking.to_app.send(request("ping"))
            assert idle.ended.is_set() and not talking.ended.is_set() and not listening.ended.is_set()
            goodbye = idle.sent[-1]
            assert (goodbye["type"], goodbye["code"]) == ("websocket.close", 1000)
            assert "idle" in goodbye["reason"]
            assert len(hub.connections) == 2
            await talking.to_app.send({"type": "websocket.disconnect"})
            await listening.to_app.send({"type": "websocket.disconnect"})
        assert not hub.connections

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_one_address_gets_a_share_of_the_slots_and_others_still_get_in() -> None:
    hub = HeadsHub(max_connections=6, max_per_address=4)
    mine = [hub.open("10.0.0.1") for _ in range(5)]
    assert all(mine[:4]) and mine[4] is None  # one address: its share only
    others = [hub.open(f"10.0.0.{n}") for n in (2, 3, 4)]
    assert all(others[:2]) and others[2] is None  # the global cap holds too
    first = mine[0]
    assert first is not None
    hub.close(first)
    hub.close(first)  # twice: counted once
    assert hub.open("10.0.0.1") is not None and hub.open("10.0.0.1") is None
    same = Clients(max_per_address=2)  # one machine, one host's /64: one address each
    assert same.open("127.0.0.1") and same.open("127.0.0.5") and not same.open("::1")
    assert same.open("2001:db8::1") and same.open("2001:db8::2") and not same.open("2001:db8::ffff:1")
    assert same.open("2001:db8:0:1::1") and same.open("::ffff:10.0.0.1") and same.open("10.0.0.1")
    assert not same.open("10.0.0.1")


def test_the_outbox_is_bounded_in_bytes_as_well_as_in_messages() -> None:
    connection = Connection(max_queued=1_000)
    connection.push("x" * 600)
    assert not connection.kicked.is_set()
    connection.push("x" * 600)  # a reader this far behind is dropped, not buffered
    assert connection.kicked.is_set() and "does not read" in connection.why

    async def main() -> None:
        answers = Connection(max_queued=1_000)
        await answers.put("a" * 600)
        with trio.move_on_after(1) as waited:  # the next answer waits for room
            await answers.put("b" * 600)
        assert waited.cancelled_caught and answers.queued == 600
        answers.sent(answers.inbox.receive_nowait())
        await answers.put("c" * 5_000)  # larger than the budget: goes once the outbox is empty

    trio.run(main)


def test_a_batch_lets_the_node_run_between_its_calls_and_its_answer_is_cut() -> None:
    hub, ticks = HeadsHub(), []
    app = WebSocketRpc(RpcHandler({"big": lambda params: "x" * 100_000}), hub, 1 << 20)
    batch = [{"jsonrpc": "2.0", "id": i, "method": "big", "params": []} for i in range(100)]

    async def node_task() -> None:
        while True:
            ticks.append(1)
            await trio.sleep(0)

    async def main() -> None:
        client = Client(app)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.run)
            nursery.start_soon(node_task)
            await client.to_app.send({"type": "websocket.receive", "text": json.dumps(batch)})
            while not client.answers():
                await trio.sleep(0)
            nursery.cancel_scope.cancel()
        (answer,) = client.answers()
        ran = [a for a in answer if "result" in a]
        assert 30 <= len(ran) < 100 and all(a["error"]["code"] == -32010 for a in answer[len(ran) :])
        assert len(ticks) >= len(ran)  # the other task ran between the calls

    trio.run(main)


def test_compression_is_declined_in_the_handshake() -> None:
    WebSocketRpc(RpcHandler({}), HeadsHub(), 1_000)  # installs the refusal
    headers = [(b"connection", b"Upgrade"), (b"upgrade", b"websocket"), (b"sec-websocket-version", b"13"),
               (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
               (b"sec-websocket-extensions", b"permessage-deflate; client_max_window_bits")]  # fmt: skip
    status, answer, connection = Handshake(headers, "1.1").accept(None, [])
    assert status == 101 and not any(name == b"sec-websocket-extensions" for name, _ in answer)
    assert not connection._proto.extensions  # a compressed frame is a protocol error


def test_a_failing_method_is_traced_once_a_minute_not_once_a_call(caplog: pytest.LogCaptureFixture) -> None:
    def broken(params: list[Any]) -> Any:
        raise KeyError("bug")

    handler = RpcHandler({"broken": broken, "huge": lambda params: (10**30).to_bytes(8, "big")})
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "broken"}).encode()
    with caplog.at_level(logging.ERROR, logger="vcoin.rpc"):
        for _ in range(500):
            assert json.loads(handler.handle(body) or b"")["error"]["code"] == -32603
    assert len(caplog.records) == 1 and caplog.records[0].exc_info is not None
    huge = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "huge"}).encode()
    assert json.loads(handler.handle(huge) or b"")["error"]["code"] == -32602  # a client's number
