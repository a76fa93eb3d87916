"""What one HTTP client can hold of the node's servers (real hypercorn, real
sockets): a body that never finishes is answered 408 once its time is up,
and a client that stops reading its answers is closed once a piece of one
stalls, its connection and task freed."""

import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

import node.http
from node.http import rpc_app, serve_app
from node.rpc import RpcHandler
from tools.testnet import free_port

BIG = 8 * 1024 * 1024  # an answer far larger than the socket buffers between the two ends


def _with_rpc(test: Callable[[int], Awaitable[None]]) -> None:
    handler = RpcHandler({"system_health": lambda params: {"ok": True}, "big": lambda params: "x" * BIG})
    port = free_port()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_app, rpc_app(handler, 64 * 1024), "127.0.0.1", port, "test RPC")
            try:
                await test(port)
            finally:
                nursery.cancel_scope.cancel()

    trio.run(main)


async def _connect(port: int, receive_buffer: int | None = None) -> trio.SocketStream:
    sock = trio.socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    await sock.connect(("127.0.0.1", port))
    return trio.SocketStream(sock)


async def _read_all(stream: trio.SocketStream) -> bytes:
    data = bytearray()
    while chunk := await stream.receive_some(1 << 16):
        data += chunk
    return bytes(data)


async def _response(stream: trio.SocketStream) -> bytes:
    """One whole HTTP/1.1 answer: its head, then content-length bytes."""
    data = bytearray()
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(1 << 16)
        assert chunk, "closed before an answer"
        data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = await stream.receive_some(1 << 16)
        assert chunk, "closed mid-answer"
        body += chunk
    return head + b"\r\n\r\n" + body


def _call(method: str) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method}).encode()
    return b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


async def _health(port: int) -> None:
    stream = await _connect(port)
    await stream.send_all(_call("system_health"))
    assert b'"ok": true' in await _response(stream)
    await stream.aclose()


def test_a_body_that_never_ends_is_answered_408_in_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node.http, "BODY_SECONDS", 1.0)

    async def test(port: int) -> None:
        stream = await _connect(port)
        await stream.send_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        with trio.fail_after(30):  # without the deadline: never
            answer = await _response(stream)
        assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive in time" in answer
        await _health(port)

    _with_rpc(test)


def test_a_body_that_keeps_coming_at_the_rate_is_read_past_the_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deadline grows with what arrived: a large upload on a slow link
    is not cut at the grace period."""
    monkeypatch.setattr(node.http, "BODY_SECONDS", 1.0)
    monkeypatch.setattr(node.http, "BODY_RATE", 1000)

    async def test(port: int) -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "system_health"}).encode() + b" " * 3000
        stream = await _connect(port)
        await stream.send_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        started = trio.current_time()
        for start in range(0, len(body), 250):  # 2,500 bytes a second: twice the rate asked
            await stream.send_all(body[start : start + 250])
            await trio.sleep(0.1)
        assert trio.current_time() - started > 1.0  # past the grace alone
        with trio.fail_after(30):
            assert b'"ok": true' in await _response(stream)

    _with_rpc(test)


def test_a_client_that_stops_reading_is_closed_and_others_are_served(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node.http, "SEND_STALL_SECONDS", 1.0)
    closed: list[Any] = []
    original = node.http.log.info

    def info(message: str, *args: Any) -> None:
        if "stopped reading" in message:
            closed.append(args)
        original(message, *args)

    monkeypatch.setattr(node.http.log, "info", info)

    async def test(port: int) -> None:
        stalled = await _connect(port, receive_buffer=4096)
        await stalled.send_all(_call("big") * 4)  # pipelined, and never read
        try:
            with trio.fail_after(60):  # without the bound: never
                while not closed:
                    await trio.sleep(0.05)
        except trio.TooSlowError:
            await stalled.aclose()  # else the server's shielded write outlives the test
            raise
        await _health(port)  # meanwhile served
        # what it gets now is what was in flight, then the end: never all of its answers
        with trio.fail_after(30):
            received = await _read_all(stalled)
        assert len(received) < BIG

    _with_rpc(test)


def test_an_answer_read_slowly_but_steadily_arrives_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound is on a stalled piece, not on the whole answer."""
    monkeypatch.setattr(node.http, "SEND_STALL_SECONDS", 1.0)

    async def test(port: int) -> None:
        stream = await _connect(port, receive_buffer=64 * 1024)
        await stream.send_all(_call("big"))
        data = bytearray()
        with trio.fail_after(120):
            while len(data) < BIG:  # at most 256 KiB a tenth of a second: several seconds in all
                chunk = await stream.receive_some(256 * 1024)
                assert chunk, "closed before the answer was whole"
                data += chunk
                await trio.sleep(0.1)
        assert data.count(b"x") >= BIG

    _with_rpc(test)


def test_batches_are_answered_a_few_at_a_time() -> None:
    """Each batch's answer is built whole in memory: only BATCHES_AT_ONCE
    are built at once, however many clients send one."""
    inside, most = [0], [0]

    def enter(params: list[Any]) -> int:
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        return 0

    def leave(params: list[Any]) -> int:
        inside[0] -= 1
        return 0

    handler = RpcHandler({"enter": enter, "leave": leave, "noop": lambda params: 0})
    calls = ["enter"] + ["noop"] * 50 + ["leave"]
    batch = json.dumps([{"jsonrpc": "2.0", "id": i, "method": m} for i, m in enumerate(calls)]).encode()
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(batch), batch)
    port = free_port()

    async def client(answers: list[bytes]) -> None:
        stream = await _connect(port)
        await stream.send_all(request)
        answers.append(await _response(stream))
        await stream.aclose()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_app, rpc_app(handler, 64 * 1024), "127.0.0.1", port, "test RPC")
            answers: list[bytes] = []
            with trio.fail_after(60):
                async with trio.open_nursery() as clients:
                    for _ in range(8):
                        clients.start_soon(client, answers)
            nursery.cancel_scope.cancel()
        assert len(answers) == 8 and all(a.startswith(b"HTTP/1.1 200") for a in answers)

    trio.run(main)
    assert 1 <= most[0] <= node.http.BATCHES_AT_ONCE


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",  # HTTP/2 by prior knowledge
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",  # HTTP/2 by upgrade
    ],
)
def test_cleartext_http2_is_not_spoken(request_bytes: bytes) -> None:
    """Under HTTP/2 a client that opens no flow-control window would hold
    its requests without a write ever stalling: only HTTP/1.1 is served."""

    async def test(port: int) -> None:
        stream = await _connect(port)
        await stream.send_all(request_bytes)
        with trio.fail_after(30):
            answer = await stream.receive_some(1 << 16)
        assert answer.startswith(b"HTTP/1.1 ") and not answer.startswith(b"HTTP/1.1 101")
        await stream.aclose()

    _with_rpc(test)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_a_body_that_is_not_plain_utf8_is_refused(encoding: str) -> None:
    """json.loads reads these too, and a batch in them would pass for a
    single call past the batch bound."""

    async def test(port: int) -> None:
        body = json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "system_health"}]).encode(encoding)
        stream = await _connect(port)
        await stream.send_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        with trio.fail_after(30):
            answer = await _response(stream)
        assert answer.startswith(b"HTTP/1.1 400") and b"UTF-8 without a byte-order mark" in answer

    _with_rpc(test)
