"""JSON-RPC subscriptions to the chain's heads, in Substrate's shape.

`chain_subscribeNewHeads` (the best block), `chain_subscribeFinalizedHeads`
and `chain_subscribeAllHeads` (every imported block, forks too) answer a
subscription id; each head then arrives as

    {"jsonrpc": "2.0", "method": "chain_newHead",
     "params": {"subscription": ID, "result": HEADER}}

with HEADER as `chain_getHeader` answers it, the current head first.
`chain_unsubscribe*` with the id answers true (false for an id unknown on
this connection). Substrate's older aliases are taken too.

Transport-free: a `Connection` (`node.rpc_ws_clients`) is a bounded outbox
the WebSocket layer (`node.rpc_ws`) drains. The node publishes from its
event loop and never waits: a client whose outbox is full is dropped
(`Connection.kick`).
"""

import json
import secrets
from collections.abc import Callable
from typing import Any

from node.abc import ChainReader
from node.jsonfmt import header_json
from node.rpc import INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, Method, RpcError
from node.rpc_ws_clients import MAX_CONNECTIONS, MAX_PER_ADDRESS, OUTBOX, Clients, Connection
from runtime.types import Header

__all__ = ["MAX_CONNECTIONS", "OUTBOX", "Connection", "HeadsHub"]
MAX_SUBSCRIPTIONS = 16  # per connection
TOO_MANY_SUBSCRIPTIONS = -32006  # jsonrpsee's code

NEW, FINALIZED, ALL = "newHeads", "finalizedHeads", "allHeads"
NOTIFICATION = {NEW: "chain_newHead", FINALIZED: "chain_finalizedHead", ALL: "chain_allHead"}
SUBSCRIBE = {
    "chain_subscribeNewHeads": NEW, "chain_subscribeNewHead": NEW, "subscribe_newHead": NEW,
    "chain_subscribeFinalizedHeads": FINALIZED, "chain_subscribeFinalisedHeads": FINALIZED,
    "chain_subscribeAllHeads": ALL,
}  # fmt: skip
UNSUBSCRIBE = {
    "chain_unsubscribeNewHeads": NEW, "chain_unsubscribeNewHead": NEW, "unsubscribe_newHead": NEW,
    "chain_unsubscribeFinalizedHeads": FINALIZED, "chain_unsubscribeFinalisedHeads": FINALIZED,
    "chain_unsubscribeAllHeads": ALL,
}  # fmt: skip
METHODS = (*SUBSCRIBE, *UNSUBSCRIBE)


def notification(kind: str, subscription: str, result_text: str) -> str:
    # The header is serialised once per publish, not once per subscriber.
    method = NOTIFICATION[kind]
    head = json.dumps({"jsonrpc": "2.0", "method": method, "params": {"subscription": subscription}})
    return head[:-2] + ', "result": ' + result_text + "}}"


class HeadsHub(Clients):
    """Every connection's subscriptions; what the node tells of its heads."""

    def __init__(
        self, max_connections: int = MAX_CONNECTIONS, max_subscriptions: int = MAX_SUBSCRIPTIONS,
        max_per_address: int = MAX_PER_ADDRESS,
    ) -> None:  # fmt: skip
        super().__init__(max_connections, max_per_address)
        self.max_subscriptions = max_subscriptions
        self._best: bytes | None = None
        self._finalized: bytes | None = None
        self._current: dict[str, Callable[[], Header | None]] = {}

    def watch(self, node: ChainReader) -> None:
        """Where the current heads come from (sent first to a new subscriber)."""
        chain = node.chain
        self._current = {
            NEW: lambda: chain.best,
            ALL: lambda: chain.best,
            FINALIZED: lambda: chain.store.header(chain.finalized_hash),
        }

    def announce(self, node: ChainReader) -> None:
        """Publish the best and finalized heads if they moved since last time."""
        chain = node.chain
        best = chain.best
        if best.hash != self._best:
            self._best = best.hash
            self.publish(NEW, best)
        finalized_hash = chain.finalized_hash
        if finalized_hash != self._finalized:
            self._finalized = finalized_hash
            finalized = chain.store.header(finalized_hash)
            if finalized is not None:
                self.publish(FINALIZED, finalized)

    def publish(self, kind: str, header: Header) -> None:
        text: str | None = None
        for connection in list(self.connections):
            for subscription, subscribed in list(connection.subscriptions.items()):
                if subscribed == kind:
                    text = text or json.dumps(header_json(header))
                    connection.push(notification(kind, subscription, text))

    def call(self, connection: Connection, request: dict[str, Any]) -> dict[str, Any] | None:
        """Answer a subscribe or unsubscribe request (None for a notification)."""
        request_id = request.get("id")
        try:
            if request.get("jsonrpc") != "2.0" or type(request_id) not in (int, str, type(None)):
                raise RpcError(INVALID_REQUEST, "Invalid request: need jsonrpc '2.0' and a valid id")
            result = self._dispatch(connection, request["method"], request.get("params", []))
            answer: dict[str, Any] = {"jsonrpc": "2.0", "result": result, "id": request_id}
        except RpcError as err:
            answer = {"jsonrpc": "2.0", "error": {"code": err.code, "message": err.message}, "id": request_id}
        if "id" not in request:
            return None
        return answer

    def _dispatch(self, connection: Connection, method: str, params: Any) -> Any:
        if not isinstance(params, list | dict) or len(params) > 1:
            raise RpcError(INVALID_PARAMS, "Invalid params: at most one positional parameter")
        if method in SUBSCRIBE:
            if len(connection.subscriptions) >= self.max_subscriptions:
                message = f"Too many subscriptions on this connection (at most {self.max_subscriptions})"
                raise RpcError(TOO_MANY_SUBSCRIPTIONS, message)
            kind = SUBSCRIBE[method]
            subscription = secrets.token_hex(8)
            connection.subscriptions[subscription] = kind
            return subscription
        if method in UNSUBSCRIBE:
            if not isinstance(params, list) or len(params) != 1 or not isinstance(params[0], str):
                raise RpcError(INVALID_PARAMS, "Invalid params: expected [subscription id]")
            if connection.subscriptions.get(params[0]) != UNSUBSCRIBE[method]:
                return False
            del connection.subscriptions[params[0]]
            return True
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method[:64]}")

    def first(self, connection: Connection, answer: dict[str, Any]) -> None:
        """After the answer to a subscribe: the head as it is now."""
        subscription = answer.get("result")
        kind = connection.subscriptions.get(subscription) if isinstance(subscription, str) else None
        current = self._current.get(kind or "")
        header = current() if current is not None else None
        if kind is not None and isinstance(subscription, str) and header is not None:
            connection.push(notification(kind, subscription, json.dumps(header_json(header))))


def http_stubs() -> dict[str, Method]:
    """The subscription methods in the HTTP method table: listed by
    `rpc_methods`, answered with what to do instead."""

    def refuse(params: list[Any]) -> Any:
        raise RpcError(
            METHOD_NOT_FOUND,
            "Subscriptions need a WebSocket connection to this port (ws://), one request per message",
        )

    return dict.fromkeys(METHODS, refuse)
