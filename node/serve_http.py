"""Session requests over HTTP, the provider's side: for providers that
publish an API address (`registry.set_api_url`, `vcoin node
--public-api-url`), the same messages as `/vcoin/<genesis>/serve/1`, so a
user's node not connected to the provider's over p2p still reaches its desk
(the client is `node.serve_http_client`).

    POST /vcoin/serve/1   body: one msgpack request frame (no API key: the cheque pays)
    200, application/x-vcoin-frames: length-prefixed msgpack frames ({piece}..., then the answer)
"""

import msgpack

from node.http import BodyRefused, Receive, Send, read_body
from node.serve_http_client import CONTENT_TYPE, frame
from node.serve_limits import MAX_REQUEST_FRAME
from node.serve_protocol import answer
from offchain.serving import ServingDesk

# A serve request is one small frame: a keyless client gets this long to
# start sending it, not the API's 30 s, so slots held by bodies that never
# come turn over six times as fast.
SERVE_BODY_SECONDS = 5.0


async def serve_over_http(desk: ServingDesk | None, receive: Receive, send: Send) -> None:
    """Answer one request frame with this node's desk, streaming its frames."""
    try:
        body = await read_body(receive, MAX_REQUEST_FRAME, grace=SERVE_BODY_SECONDS)
    except BodyRefused as exc:
        await _plain(send, exc.status, f"a serve request is one frame: {exc}".encode())
        return
    if body is None:
        return
    try:
        request = msgpack.unpackb(body, raw=False, strict_map_key=False)
        if not isinstance(request, dict) or request.get("op") not in ("serve", "tokenizer", "hello"):
            raise ValueError("a serve request is a map with op serve, tokenizer or hello")
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as exc:
        # msgpack raises TypeError for a map keyed by a list, RecursionError
        # (not its own StackError) for some nestings: bad input either way
        await _plain(send, 400, f"not a serve request: {exc}".encode())
        return
    started = False

    async def start() -> None:
        nonlocal started
        if not started:
            started = True
            headers = [(b"content-type", CONTENT_TYPE), (b"cache-control", b"no-cache")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})

    async def piece(text: str) -> None:
        await start()
        await send({"type": "http.response.body", "body": frame({"piece": text}), "more_body": True})

    try:
        reply = await answer(desk, request, piece)
    except ValueError as exc:
        reply = {"ok": False, "code": "bad_request", "message": str(exc)}
    await start()
    await send({"type": "http.response.body", "body": frame(reply), "more_body": False})


async def _plain(send: Send, status: int, text: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})
