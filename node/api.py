"""The OpenAI-compatible HTTP API (`vcoin node --api-port N`).

    GET  /v1/models
    POST /v1/embeddings          (encoding_format float or base64)
    POST /v1/completions         (stream)
    POST /v1/chat/completions    (stream; the model's own chat template)
    POST /v1/files, POST /v1/fine_tuning/jobs, GET /v1/fine_tuning/jobs/{id}   (`node.api_fine_tuning`)

Every call but /v1/models needs `Authorization: Bearer <API key>`; it is
served through a session of the key's account (`node.api_sessions`).
Decoding is greedy (the chain verifies greedy results), so sampling
parameters are accepted and ignored. Errors come in OpenAI's shape:
`{"error": {"message", "type", "code"}}` with 400, 401, 402, 404, 503.
"""

import base64
import json
import logging
import re
import secrets
import struct
import time
from typing import Any

from node.api_fine_tuning import MAX_FILE, FineTuning
from node.api_keys import ApiKey, ApiKeys
from node.api_sessions import ApiError, SessionBroker
from node.api_stream import EventStream
from node.http import App, BodyRefused, Receive, Scope, Send, read_body, with_lifespan
from node.rpc_ws_clients import address_key
from node.serve_http import serve_over_http
from node.serve_http_client import PATH
from node.trace_limit import TraceLimit
from runtime.crypto import Keypair, to_address
from runtime.pallets import registry
from runtime.pallets.job_types import JobKind
from runtime.session_request import MAX_TOKENS

log = logging.getLogger("vcoin.api")
MAX_BODY = 1024 * 1024
MAX_IN_FLIGHT = 64
MAX_PER_CLIENT = 16  # one address cannot take every slot
FIXED = 1_000_000
DEFAULT_MAX_TOKENS = 16
EMBED_CHUNK = 8  # texts per session request
MAX_TEXTS = 2048  # texts per embeddings call (OpenAI's own bound)


def _error_body(status: int, code: str, message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": code, "param": None}}).encode()


async def _send(send: Send, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, limit: int = MAX_BODY) -> bytes:
    try:
        body = await read_body(receive, limit)
    except BodyRefused as exc:
        raise ApiError(exc.status, "too_large" if exc.status == 413 else "timeout", str(exc)) from None
    if body is None:
        raise ApiError(400, "disconnected", "the client went away")
    return body


async def _read_json(receive: Receive) -> Any:
    try:
        body = json.loads(await _read_body(receive) or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        raise ApiError(400, "invalid_json", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the body is a JSON object")
    return body


_JOB_ID = re.compile(r"[0-9]{1,20}", re.ASCII)  # a job's number is a u64


def _route_name(path: str) -> str:
    """A bounded label: the API's own routes, everything else `other`."""
    for route in ("/v1/models", "/v1/embeddings", "/v1/completions", "/v1/chat/completions", "/v1/files",
                  "/v1/fine_tuning/jobs"):  # fmt: skip
        if path.rstrip("/") == route or (route == "/v1/fine_tuning/jobs" and path.startswith(route)):
            return route
    return "other"


def _max_tokens(body: dict[str, Any]) -> int:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if value is None:
        return DEFAULT_MAX_TOKENS
    if type(value) is not int or not 1 <= value <= MAX_TOKENS:
        raise ApiError(400, "invalid_value", f"max_tokens is an integer in [1, {MAX_TOKENS}]")
    return value


def _client_key(scope: Scope) -> str:
    """Whom a per-client cap counts: one IPv6 /64 is one host's to use.
    Loopback addresses stay apart: this machine's own users are trusted."""
    host = str((scope.get("client") or ("?",))[0])
    key = address_key(host)
    return host if key is None or key == "loopback" else key


def chat_messages(messages: Any) -> list[dict[str, str]]:
    """A chat request's messages as role and text, content parts joined."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "invalid_messages", "messages is a non-empty list")
    plain = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # content parts: the text ones
            texts = [p.get("text", "") for p in content if isinstance(p, dict)]
            if not all(isinstance(text, str) for text in texts):
                raise ApiError(400, "invalid_messages", "a content part's text is a string")
            content = "".join(texts)
        if not isinstance(content, str):
            raise ApiError(400, "invalid_messages", "every message has a role and text content")
        plain.append({"role": str(message.get("role")), "content": content})
    return plain


class OpenAiApi:
    def __init__(self, node: Any, broker: SessionBroker, keys: ApiKeys, counter: Any = None) -> None:
        self.node, self.broker, self.keys = node, broker, keys
        self.counter = counter  # a prometheus Counter labelled (route, status), or None
        # requests being served, per pool: the keyed API's and the desk's
        # (no key: a stranger's slow bodies there must not lock key holders out)
        self.in_flight = {"api": 0, "serve": 0}
        self.per_client: dict[str, int] = {}  # per client address (the desk's prefixed `serve `)
        self.tuning = FineTuning(node, broker)
        self.traces = TraceLimit(log, "API route")

    def app(self) -> App:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            pool = "serve" if scope.get("path", "").rstrip("/") == PATH else "api"
            client = _client_key(scope)
            client = client if pool == "api" else f"serve {client}"
            if self.in_flight[pool] >= MAX_IN_FLIGHT or self.per_client.get(client, 0) >= MAX_PER_CLIENT:
                await _send(
                    send, 429, _error_body(429, "rate_limited", "too many requests at once", "rate_limit")
                )
                return
            self.in_flight[pool] += 1
            self.per_client[client] = self.per_client.get(client, 0) + 1
            status = 200
            try:
                await self._route(scope, receive, send)
            except ApiError as exc:
                status = exc.status
                await _send(send, exc.status, _error_body(exc.status, exc.code, str(exc), exc.kind))
            except Exception:  # never the node: the one request fails
                status = 500
                self.traces.failed(_route_name(scope.get("path", "")))
                await _send(
                    send,
                    500,
                    _error_body(500, "internal_error", "the node failed this request", "server_error"),
                )
            finally:
                self.in_flight[pool] -= 1
                self.per_client[client] -= 1
                if not self.per_client[client]:
                    del self.per_client[client]
                if self.counter is not None:
                    self.counter.labels(route=_route_name(scope.get("path", "")), status=str(status)).inc()

        return with_lifespan(app)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"].rstrip("/")
        if method == "POST" and path == PATH:  # session requests from users' nodes, paid by cheques
            await serve_over_http(self.node.desks.desk, receive, send)
            return
        if method == "GET" and path == "/v1/models":
            await _send(send, 200, json.dumps(self._models()).encode())
            return
        routes = {"/v1/embeddings": self._embeddings, "/v1/completions": self._completions,
                  "/v1/chat/completions": self._chat, "/v1/fine_tuning/jobs": self._fine_tune}  # fmt: skip
        if path.startswith("/v1/fine_tuning/jobs/") and method == "GET":
            _, account = self._authorize(scope)
            job = path.removeprefix("/v1/fine_tuning/jobs/").removeprefix("ftjob-")
            if not _JOB_ID.fullmatch(job) or int(job) >= 2**64:
                raise ApiError(404, "not_found", "a fine-tuning job id is ftjob-N")
            await _send(send, 200, json.dumps(self.tuning.describe(account, int(job))).encode())
            return
        if path == "/v1/files" and method == "POST":
            self._authorize(scope)
            content_type = dict(scope.get("headers", [])).get(b"content-type", b"").decode("latin-1")
            body = await _read_body(receive, MAX_FILE + 64 * 1024)
            await _send(send, 200, json.dumps(self.tuning.upload(content_type, body)).encode())
            return
        handler = routes.get(path)
        if handler is None:
            raise ApiError(404, "not_found", f"no route {method} {path}")
        if method != "POST":
            raise ApiError(405, "method_not_allowed", f"{path} takes POST")
        key, account = self._authorize(scope)
        body = await _read_json(receive)
        await handler(key, account, body, send)

    def _authorize(self, scope: Scope) -> tuple[ApiKey, Keypair]:
        header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        found = self.keys.unlock(token.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            raise ApiError(401, "invalid_api_key", "Incorrect API key provided (vcoin api-key new makes one)")
        return found

    def _models(self) -> dict[str, Any]:
        state = self.node.chain.state
        data = [{"id": m.name, "object": "model", "created": 0, "owned_by": to_address(m.owner),
                 "kind": m.kind.value, "hash": "0x" + m.hash.hex()} for m in registry.models(state)]  # fmt: skip
        return {"object": "list", "data": data}

    def _model(self, body: dict[str, Any], kind: JobKind) -> registry.Model:
        name = body.get("model")
        if type(name) is not str or not name:
            raise ApiError(400, "missing_model", "name a model (GET /v1/models lists them)")
        found = registry.model_by_name(self.node.chain.state, name)
        if found is None:
            raise ApiError(
                404, "model_not_found", f"The model `{name}` does not exist", "invalid_request_error"
            )
        if found.kind != kind:
            raise ApiError(
                400, "wrong_model_kind", f"`{name}` is a {found.kind.value} model, not {kind.value}"
            )
        return found

    async def _fine_tune(self, key: ApiKey, account: Keypair, body: dict[str, Any], send: Send) -> None:
        await _send(send, 200, json.dumps(await self.tuning.create(key, account, body)).encode())

    async def _embeddings(self, key: ApiKey, account: Keypair, body: dict[str, Any], send: Send) -> None:
        model = self._model(body, JobKind.EMBED)
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not 0 < len(texts) <= MAX_TEXTS:
            raise ApiError(400, "invalid_input", f"input is a string or a list of 1 to {MAX_TEXTS} strings")
        if not all(isinstance(t, str) and t for t in texts):
            raise ApiError(
                400, "invalid_input", "every input is a non-empty string (token arrays are not taken)"
            )
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            raise ApiError(400, "invalid_value", "encoding_format is float or base64")
        vectors: list[list[int]] = []
        units = 0
        for start in range(0, len(texts), EMBED_CHUNK):  # each request's result must stay publishable
            answer = await self.broker.request(
                key, account, model, "embed", texts[start : start + EMBED_CHUNK], {}
            )
            vectors += answer.payload.get("vectors") or []
            units += answer.units
        data = []
        for index, vector in enumerate(vectors):
            floats = [v / FIXED for v in vector]
            embedding: Any = floats
            if fmt == "base64":
                embedding = base64.b64encode(struct.pack(f"<{len(floats)}f", *floats)).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = units // model.params_millions
        await _send(send, 200, json.dumps({"object": "list", "data": data, "model": model.name,
                                           "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}).encode())  # fmt: skip

    async def _completions(self, key: ApiKey, account: Keypair, body: dict[str, Any], send: Send) -> None:
        model = self._model(body, JobKind.INFERENCE)
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str) or not prompt:
            raise ApiError(400, "invalid_prompt", "prompt is one non-empty string")
        await self._generate(key, account, model, prompt, body, send, chat=False)

    async def _chat(self, key: ApiKey, account: Keypair, body: dict[str, Any], send: Send) -> None:
        model = self._model(body, JobKind.INFERENCE)
        plain = chat_messages(body.get("messages"))
        rendered = await self.broker.tokenizer(key, account, model, {"op": "chat", "messages": plain})
        await self._generate(key, account, model, str(rendered.get("prompt", "")), body, send, chat=True)

    async def _generate(
        self, key: ApiKey, account: Keypair, model: registry.Model, prompt: str, body: dict[str, Any],
        send: Send, chat: bool,
    ) -> None:  # fmt: skip
        limit = _max_tokens(body)
        created, name = int(time.time()), model.name
        stream = None
        if body.get("stream"):
            stream = EventStream(
                send, f"{'chatcmpl' if chat else 'cmpl'}-{secrets.token_hex(12)}", created, name, chat
            )
        try:
            answer = await self.broker.request(key, account, model, "inference", prompt, {"max_tokens": limit},
                                               None if stream is None else stream.piece)  # fmt: skip
        except ApiError as exc:
            if stream is None or not stream.started:
                raise
            await stream.fail(exc.code, str(exc))
            return
        tokens = [t for t in answer.payload.get("tokens", []) if isinstance(t, int)]
        finish = "length" if len(tokens) >= limit else "stop"
        if stream is not None:
            await stream.finish(finish)
            return
        usage = {
            "prompt_tokens": answer.units // model.params_millions - limit,
            "completion_tokens": len(tokens),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        text = str(answer.payload.get("text", ""))
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish, "logprobs": None}
        choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
        await _send(send, 200, json.dumps({
            "id": f"{'chatcmpl' if chat else 'cmpl'}-{answer.session}-{answer.seq}",
            "object": "chat.completion" if chat else "text_completion",
            "created": created, "model": name, "choices": [choice], "usage": usage,
        }).encode())  # fmt: skip
