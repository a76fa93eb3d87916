"""Session requests over HTTP, the client's side: a user's node sends a
request frame to the API address a provider published on chain and reads
the frames back (`node.serve_http` is the provider's side). HTTP/1.1 with
h11 over trio (https through trio's TLS), one connection per request,
every size bounded as on the p2p path."""

import ssl
import urllib.parse
from typing import Any

import h11
import msgpack
import trio

from node.serve_limits import MAX_ANSWER_FRAME
from offchain.serving import ServeError, StreamTo, piece_of

PATH = "/vcoin/serve/1"
CONTENT_TYPE = b"application/x-vcoin-frames"
MAX_HEADERS = 16 * 1024


def frame(obj: Any) -> bytes:
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return len(data).to_bytes(4, "big") + data


async def ask_over_http(
    url: str, message: dict[str, Any], timeout: float, on_piece: StreamTo | None
) -> dict[str, Any]:
    """One request to a provider's published address; its answer map."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServeError("unreachable", f"the provider's API address {url!r} is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path.rstrip("/") + PATH).encode()
    body: bytes = msgpack.packb(message, use_bin_type=True)
    with trio.fail_after(timeout):
        stream: trio.abc.Stream = await trio.open_tcp_stream(parts.hostname, port)
        if parts.scheme == "https":
            stream = trio.SSLStream(stream, ssl.create_default_context(), server_hostname=parts.hostname)
        async with stream:
            return await _exchange(stream, parts.netloc.encode(), target, body, on_piece)


async def _exchange(
    stream: trio.abc.Stream, host: bytes, target: bytes, body: bytes, on_piece: StreamTo | None
) -> dict[str, Any]:
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADERS)
    headers = [(b"host", host), (b"content-type", b"application/msgpack"), (b"content-length", b"%d" % len(body)),
               (b"connection", b"close")]  # fmt: skip
    for outgoing in (
        h11.Request(method=b"POST", target=target, headers=headers),
        h11.Data(data=body),
        h11.EndOfMessage(),
    ):
        await stream.send_all(conn.send(outgoing) or b"")
    buffer, status = bytearray(), 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(64 * 1024)
            conn.receive_data(data)  # b"" is the end of the stream
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            buffer += event.data
            if status != 200:
                raise ServeError("unreachable", f"the provider's API answered {status}")
            while len(buffer) >= 4:
                size = int.from_bytes(buffer[:4], "big")
                if size > MAX_ANSWER_FRAME:
                    raise ServeError("unreachable", "the provider's API sent an oversized frame")
                if len(buffer) < 4 + size:
                    break
                got = msgpack.unpackb(bytes(buffer[4 : 4 + size]), raw=False)
                del buffer[: 4 + size]
                piece = piece_of(got)
                if piece is not None:
                    if on_piece is not None:
                        await on_piece(piece)
                    continue
                if not isinstance(got, dict) or type(got.get("ok")) is not bool:
                    raise ServeError("unreachable", "the provider's API answered garbage")
                return got
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            raise ServeError("unreachable", f"the provider's API ended without an answer (status {status})")
