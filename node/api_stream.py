"""Streamed completions: OpenAI's server-sent events, one per piece of text
as the provider generates it (a token, or the tokens that complete a
character). The response starts with the first piece, so an error before
it still gets its own status; one after it ends the stream with an error
event, as OpenAI's does."""

import json
from typing import Any

from node.http import Send


class EventStream:
    def __init__(self, send: Send, completion_id: str, created: int, name: str, chat: bool) -> None:
        self.send, self.id, self.created, self.name, self.chat = send, completion_id, created, name, chat
        self.started = False

    def _event(self, piece: str | None, reason: str | None, first: bool = False) -> bytes:
        if self.chat:
            delta: dict[str, Any] = {"role": "assistant", "content": ""} if first else {}
            if piece is not None:
                delta["content"] = piece
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}
        else:
            choice = {"index": 0, "text": piece or "", "finish_reason": reason, "logprobs": None}
        kind = "chat.completion.chunk" if self.chat else "text_completion"
        chunk = {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.name,
            "choices": [choice],
        }
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    async def _body(self, data: bytes, more: bool = True) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": more})

    async def _start(self) -> None:
        if self.started:
            return
        self.started = True
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await self.send({"type": "http.response.start", "status": 200, "headers": headers})
        if self.chat:
            await self._body(self._event(None, None, first=True))

    async def piece(self, text: str) -> None:
        await self._start()
        await self._body(self._event(text, None))

    async def finish(self, reason: str) -> None:
        await self._start()
        await self._body(self._event(None if self.chat else "", reason))
        await self._body(b"data: [DONE]\n\n", more=False)

    async def fail(self, code: str, message: str) -> None:
        error = {"error": {"message": message, "type": "server_error", "code": code, "param": None}}
        await self._body(b"data: " + json.dumps(error).encode() + b"\n\n")
        await self._body(b"data: [DONE]\n\n", more=False)
