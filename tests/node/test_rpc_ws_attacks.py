"""Attacks on a real dev node's WebSocket and explorer RPC: what a client
sends never stops or stalls the node, and what it may hold is bounded."""

import base64
import contextlib
import json
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed, DisconnectionTimeout, open_websocket_url

from tests.node.wsclient import WsRpc
from tests.nodeproc import NodeProcess

pytestmark = pytest.mark.slow
HOSTILE: list[Any] = [None, -1, 2**64, 10**30, -(10**30), 1.5, True, "", "0x", "0x" + "ff" * 33, "vc1x", [], [[[]]], {},
           {"from": 10**30, "to": -1}, {"points": 10**9}, {"count": 10**9}]  # fmt: skip


async def bounded(test: Callable[[], Awaitable[None]], seconds: float) -> None:
    with trio.fail_after(seconds):  # a hang fails the test, not the run
        await test()


def handshake(port: int, extensions: str) -> tuple[socket.socket, str]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Extensions: {extensions}\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    return sock, head.decode("latin-1")


def test_compression_is_declined_and_a_compressed_frame_closes_the_socket(dev_node: NodeProcess) -> None:
    sock, head = handshake(dev_node.rpc_port, "permessage-deflate; client_max_window_bits")
    assert head.startswith("HTTP/1.1 101") and "permessage-deflate" not in head.lower()
    payload = b"\x00" * 64  # claimed compressed (RSV1), which was never agreed
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0xC1, 0x80 | len(payload)]) + mask + masked)
    closing = sock.recv(64)  # hypercorn ends the socket (EOF) or sends a close frame
    assert closing == b"" or closing[:1] == b"\x88"
    sock.close()
    assert "bestNumber" in dev_node.rpc("system_health")


def test_hostile_parameters_get_errors_never_internal_ones(dev_node: NodeProcess) -> None:
    methods = dev_node.rpc("rpc_methods")["methods"]

    async def main() -> None:
        async with open_websocket_url(f"ws://127.0.0.1:{dev_node.rpc_port}/") as ws:
            rpc = WsRpc(ws)
            for method in methods:
                if "ubscribe" in method:
                    continue  # one request per message: checked on their own
                calls = [[value] for value in HOSTILE] + [[value, value] for value in HOSTILE]
                batch = [
                    {"jsonrpc": "2.0", "id": i, "method": method, "params": p} for i, p in enumerate(calls)
                ]
                await rpc.send(json.dumps(batch))
                answers = json.loads(await ws.get_message())
                assert len(answers) == len(calls)
                internal = [a for a in answers if a.get("error", {}).get("code") == -32603]
                assert not internal, (method, internal[:2])

    trio.run(bounded, main, 120)
    assert "Traceback" not in dev_node.log.read_text()


def test_a_client_that_never_reads_stalls_only_itself(dev_node: NodeProcess) -> None:
    url = f"ws://127.0.0.1:{dev_node.rpc_port}/"
    request = {"jsonrpc": "2.0", "method": "vcoin_history", "params": [{"points": 1000}]}
    batch = json.dumps([{**request, "id": i} for i in range(100)])

    async def flood(ws: Any) -> float:
        """Pipeline batches it never reads; the slowest answer the node gave meanwhile."""
        slowest = 0.0
        with trio.move_on_after(30), contextlib.suppress(ConnectionClosed):  # ... or drops it
            for _ in range(400):  # the node stops reading this client
                with trio.move_on_after(2) as blocked:
                    await ws.send_message(batch)
                started = time.monotonic()
                assert "bestNumber" in await trio.to_thread.run_sync(dev_node.rpc, "system_health")
                slowest = max(slowest, time.monotonic() - started)
                if blocked.cancelled_caught:
                    break
        return slowest

    async def main() -> None:
        slowest = None
        try:  # the node drops this client: its close may go unanswered
            async with open_websocket_url(url, disconnect_timeout=5) as ws:
                slowest = await flood(ws)
        except* (DisconnectionTimeout, ConnectionClosed):
            pass
        assert slowest is not None and slowest < 2.0, f"the node stalled for {slowest} s"
        async with open_websocket_url(url) as ws:  # others are served as before
            assert "bestNumber" in await WsRpc(ws).call("system_health")

    trio.run(bounded, main, 120)


def test_subscribe_churn_without_reading_drops_only_that_client(dev_node: NodeProcess) -> None:
    url = f"ws://127.0.0.1:{dev_node.rpc_port}/"
    subscribe = {"jsonrpc": "2.0", "id": 1, "method": "chain_subscribeAllHeads"}
    churn = [
        json.dumps(subscribe),
        json.dumps({**subscribe, "method": "chain_unsubscribeAllHeads", "params": ["x"]}),
    ]

    async def main() -> None:
        with trio.move_on_after(30):
            async with open_websocket_url(url) as ws:
                with contextlib.suppress(ConnectionClosed):  # the node may close it mid-send
                    while "dropped" not in dev_node.log.read_text():
                        with trio.move_on_after(2):
                            for text in churn * 50:
                                await ws.send_message(text)
        assert "dropped: it does not read" in dev_node.log.read_text()
        async with open_websocket_url(url) as ws:
            assert "bestNumber" in await WsRpc(ws).call("system_health")

    trio.run(bounded, main, 90)
