"""Streamed completions: OpenAI's server-sent events, one per generated token."""

import json
from collections.abc import AsyncIterator
from typing import Any

import trio

from node.http import Send


async def stream_events(
    send: Send, completion_id: str, created: int, name: str, pieces: list[str], finish: str, chat: bool
) -> None:
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    async for chunk in _chunks(completion_id, created, name, pieces, finish, chat):
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


async def _chunks(
    completion_id: str, created: int, name: str, pieces: list[str], finish: str, chat: bool
) -> AsyncIterator[bytes]:
    """One server-sent event per generated token (OpenAI's chunk shape)."""
    kind = "chat.completion.chunk" if chat else "text_completion"

    def event(piece: str | None, reason: str | None, first: bool = False) -> bytes:
        if chat:
            delta: dict[str, Any] = {"role": "assistant", "content": ""} if first else {}
            if piece is not None:
                delta["content"] = piece
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}
        else:
            choice = {"index": 0, "text": piece or "", "finish_reason": reason, "logprobs": None}
        chunk = {"id": completion_id, "object": kind, "created": created, "model": name, "choices": [choice]}
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    if chat:
        yield event(None, None, first=True)
    for piece in pieces:
        yield event(piece, None)
        await trio.lowlevel.checkpoint()
    yield event(None if chat else "", finish)
