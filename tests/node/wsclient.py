"""A JSON-RPC client over WebSocket for tests: answers matched by id,
subscription notifications kept apart, in arrival order."""

import json
from collections import deque
from typing import Any

import trio
from trio_websocket import WebSocketConnection


class RpcError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.code = error.get("code")


class WsRpc:
    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.notifications: deque[dict[str, Any]] = deque()
        self._next = 0

    async def send(self, text: str) -> None:
        await self.ws.send_message(text)

    async def answer(self, request_id: Any, timeout: float = 20) -> dict[str, Any]:
        """The answer to `request_id`; notifications arriving first are kept."""
        with trio.fail_after(timeout):
            while True:
                message = json.loads(await self.ws.get_message())
                if isinstance(message, dict) and "subscription" in message.get("params", {}):
                    self.notifications.append(message)
                elif not isinstance(message, dict) or message.get("id") == request_id:
                    return message  # type: ignore[no-any-return]

    async def call_raw(self, method: str, *params: Any) -> dict[str, Any]:
        self._next += 1
        request = {"jsonrpc": "2.0", "id": self._next, "method": method, "params": list(params)}
        await self.send(json.dumps(request))
        return await self.answer(self._next)

    async def call(self, method: str, *params: Any) -> Any:
        answer = await self.call_raw(method, *params)
        if "error" in answer:
            raise RpcError(answer["error"])
        return answer["result"]

    async def notification(self, subscription: str, timeout: float = 30) -> dict[str, Any]:
        """The next notification of `subscription` (others are left queued)."""
        with trio.fail_after(timeout):
            while True:
                for message in self.notifications:
                    if message["params"]["subscription"] == subscription:
                        self.notifications.remove(message)
                        return message
                found = json.loads(await self.ws.get_message())
                if "subscription" in found.get("params", {}):
                    self.notifications.append(found)
