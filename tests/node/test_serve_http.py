"""Session requests over HTTP: a provider's desk behind `POST /vcoin/serve/1`
(real hypercorn, real sockets), reached by `Desks` through the API address
a provider published when no connected peer serves it."""

from pathlib import Path
from typing import Any

import pytest
import trio

from node.http import serve_app, with_lifespan
from node.serve_http import serve_over_http
from node.serve_http_client import PATH
from node.serve_protocol import Desks
from offchain.serving import ServeError
from tests.chain import EVE
from tests.offchain.test_serving import RESULT, Setup, _request
from tools.testnet import free_port


def _app(setup: Setup) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["method"] == "POST" and scope["path"] == PATH:
            await serve_over_http(setup.desk, receive, send)
        else:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    return with_lifespan(app)


def _with_server(setup: Setup, test: Any) -> None:
    port = free_port()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_app, _app(setup), "127.0.0.1", port, "test desk")
            try:
                await test(f"http://127.0.0.1:{port}")
            finally:
                nursery.cancel_scope.cancel()

    trio.run(main)


def test_a_request_reaches_the_providers_desk_over_http(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    raw = _request()

    async def test(url: str) -> None:
        desks = Desks(None, None, lambda who: url if who == EVE.public else "")
        message = {"op": "serve", "session": setup.session, "cheque": setup.cheque(raw), "request": raw}
        reply = await desks.call(EVE.public, message)
        assert reply["ok"] and reply["result"] == RESULT and reply["seq"] == 1
        stale = await desks.call(EVE.public, message)  # the same cheque again: refused, not a transport error
        assert not stale["ok"] and stale["code"] == "bad_sequence"
        with pytest.raises(ServeError):  # a provider with no address and no peer
            await desks.call(b"\x01" * 32, message)

    _with_server(setup, test)
    assert setup.desk.store.log(setup.session).count == 1


def test_garbage_and_dead_addresses_are_transport_errors(tmp_path: Path) -> None:
    setup = Setup(tmp_path)

    async def test(url: str) -> None:
        desks = Desks(None, None, lambda who: url)
        with pytest.raises(ServeError):
            await desks.call(EVE.public, {"op": "launch the missiles"})
        dead = Desks(None, None, lambda who: f"http://127.0.0.1:{free_port()}")
        with pytest.raises(ServeError):
            await dead.call(EVE.public, {"op": "hello"})

    _with_server(setup, test)
