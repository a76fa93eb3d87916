"""The API's own bounds, before any route: one client address cannot hold
more than MAX_PER_CLIENT requests at once (429), others are still served."""

from types import SimpleNamespace
from typing import Any

import trio

from node.api import MAX_IN_FLIGHT, MAX_PER_CLIENT, OpenAiApi
from tests.chain import TestChain


def _call(api: OpenAiApi, client: str) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/v1/models", "headers": [], "client": (client, 5000)}
    trio.run(api.app(), scope, receive, send)
    return int(sent[0]["status"])


def test_one_address_cannot_take_every_slot() -> None:
    node = SimpleNamespace(chain=SimpleNamespace(state=TestChain().state))
    api = OpenAiApi(node, None, None)  # type: ignore[arg-type]  # /v1/models needs neither
    assert _call(api, "192.0.2.1") == 200
    api.per_client["192.0.2.1"] = MAX_PER_CLIENT  # as many of its requests as it may hold, in flight
    assert _call(api, "192.0.2.1") == 429
    assert _call(api, "192.0.2.2") == 200
    assert api.per_client == {"192.0.2.1": MAX_PER_CLIENT}  # the served ones gave their slot back


def test_the_desks_keyless_requests_cannot_take_the_keyed_apis_slots() -> None:
    """`POST /vcoin/serve/1` needs no key: however many a stranger holds
    (slow bodies), key holders' requests still have every slot of theirs."""
    node = SimpleNamespace(chain=SimpleNamespace(state=TestChain().state))
    api = OpenAiApi(node, None, None)  # type: ignore[arg-type]
    api.in_flight["serve"] = MAX_IN_FLIGHT  # the desk's slots all held
    api.per_client["serve 192.0.2.1"] = MAX_PER_CLIENT
    assert _call(api, "192.0.2.1") == 200


def test_one_ipv6_host_is_one_client_whatever_its_addresses() -> None:
    node = SimpleNamespace(chain=SimpleNamespace(state=TestChain().state))
    api = OpenAiApi(node, None, None)  # type: ignore[arg-type]
    api.per_client["2001:db8:1:2::/64"] = MAX_PER_CLIENT
    assert _call(api, "2001:db8:1:2::99") == 429
    assert _call(api, "2001:db8:1:3::1") == 200
