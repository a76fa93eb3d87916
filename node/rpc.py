"""JSON-RPC 2.0: request validation, batches, error objects, method table.

Transport-free: `RpcHandler.handle(body)` takes the raw request bytes and
returns the raw response (None when every request was a notification).
Nothing a client sends can raise out of it. `RpcHandler.steps` is the same
work cut at each call of a batch, so an async server lets the node run
between them. A method that fails unexpectedly is logged with its
traceback at most once a minute (with a count of the failures between):
clients that trigger it in a loop cannot fill the disk with logs.
"""

import json
import logging
from collections.abc import Callable, Generator
from typing import Any

from node.trace_limit import TraceLimit

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Substrate's author_* codes, so polkadot-js style clients read them as usual.
TX_INVALID = 1010
TX_ALREADY_IMPORTED = 1013
TX_PRIORITY_TOO_LOW = 1014
MAX_BATCH = 100
MAX_BATCH_ANSWER = 64 * 1024 * 1024
BATCH_TOO_LARGE = -32010

log = logging.getLogger("vcoin.rpc")

Method = Callable[[list[Any]], Any]


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def params_between(params: list[Any], least: int, most: int) -> list[Any]:
    if not least <= len(params) <= most:
        want = str(least) if least == most else f"{least} to {most}"
        raise RpcError(INVALID_PARAMS, f"expected {want} parameters, got {len(params)}")
    return params + [None] * (most - len(params))


def _error(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        body["data"] = data
    return {"jsonrpc": "2.0", "error": body, "id": request_id}


class RpcHandler:
    def __init__(self, methods: dict[str, Method]) -> None:
        self.methods = methods
        self.traces = TraceLimit(log, "RPC method")  # names: the method table's only

    def handle(self, body: bytes, max_answer: int | None = None) -> bytes | None:
        steps = self.steps(body, max_answer)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def steps(self, body: bytes, max_answer: int | None = None) -> Generator[None, None, bytes | None]:
        """`handle`, pausing (a yield) after each call of a batch; a batch's
        answer is cut at `max_answer` bytes (`MAX_BATCH_ANSWER` when None)."""
        try:
            request = json.loads(body)
        except (ValueError, RecursionError):
            return json.dumps(_error(None, PARSE_ERROR, "Parse error: body is not JSON")).encode()
        if isinstance(request, list):
            if not request:
                return json.dumps(_error(None, INVALID_REQUEST, "Invalid request: empty batch")).encode()
            if len(request) > MAX_BATCH:
                message = f"Invalid request: batch larger than {MAX_BATCH}"
                return json.dumps(_error(None, INVALID_REQUEST, message)).encode()
            return (yield from self._batch(request, MAX_BATCH_ANSWER if max_answer is None else max_answer))
        answer = self._one(request)
        return None if answer is None else json.dumps(answer).encode()

    def _batch(self, requests: list[Any], max_answer: int) -> Generator[None, None, bytes | None]:
        """Each call's answer is bounded; so is their sum: past `max_answer`
        the rest of the batch is answered with an error, not run."""
        answers: list[bytes] = []
        size = 0
        for request in requests:
            answer: dict[str, Any] | None
            if size > max_answer:
                request_id = request.get("id") if isinstance(request, dict) else None
                message = f"Batch answer over {max_answer} bytes: send this call again on its own"
                answer = _error(
                    request_id if type(request_id) in (int, str) else None, BATCH_TOO_LARGE, message
                )
            else:
                answer = self._one(request)
                yield
            if answer is not None:
                answers.append(json.dumps(answer).encode())
                size += len(answers[-1])
        return b"[" + b",".join(answers) + b"]" if answers else None

    def _one(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict):
            return _error(None, INVALID_REQUEST, "Invalid request: not an object")
        request_id = request.get("id")
        if not (request_id is None or type(request_id) in (int, str)):
            return _error(None, INVALID_REQUEST, "Invalid request: id must be a string, number or null")
        method, params = request.get("method"), request.get("params", [])
        if request.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return _error(request_id, INVALID_REQUEST, "Invalid request: need jsonrpc '2.0' and a method")
        if isinstance(params, dict) and not params:
            params = []
        if not isinstance(params, list):
            return _error(request_id, INVALID_PARAMS, "Invalid params: positional parameters only")
        notification = "id" not in request
        handler = self.methods.get(method)
        if handler is None:
            answer = _error(request_id, METHOD_NOT_FOUND, f"Method not found: {method[:64]}")
        else:
            try:
                answer = {"jsonrpc": "2.0", "result": handler(params), "id": request_id}
            except RpcError as err:
                answer = _error(request_id, err.code, err.message, err.data)
            except ValueError as err:
                answer = _error(request_id, INVALID_PARAMS, f"Invalid params: {err}")
            except OverflowError:  # a number too large for a key or a field
                answer = _error(request_id, INVALID_PARAMS, "Invalid params: a number out of range")
            except Exception:
                self.traces.failed(method)
                answer = _error(request_id, INTERNAL_ERROR, "Internal error")
        return None if notification else answer
