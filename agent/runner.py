"""The process that runs jobs inside a sandbox.

    python -m agent.runner            serve length-prefixed msgpack requests on stdin/stdout
    python -m agent.runner --listen SOCKET [--idle-exit S]
                                      the same frames over a Unix socket, one connection
                                      at a time (a warm Docker container); exits after S
                                      seconds without a connection (its node is gone)

A request is {kind, model_path, input, options, device}; a response is
{ok, result (canonical bytes), hash, micros} or {ok: false, error}, `micros`
being the job's run time in microseconds. A verifier's request also carries
{claimed} (the canonical result to check) and gets {ok, match, reason, micros}.
With {stream: true}, a kind that streams (inference) sends {piece: text}
frames as it generates, before its response frame.
Models stay loaded between requests, so only the first job on a model pays
the load.
"""

import contextlib
import logging
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from agent.canonical import decode, encode
from agent.job import JobSpec, Result

MAX_REQUEST = 512 * 1024 * 1024


def handle(request: dict[str, Any], emit: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    from agent import loading
    from agent.kinds import KINDS

    try:
        kind = KINDS[request["kind"]]
        spec = JobSpec(request["kind"], request["input"], dict(request.get("options") or {}),
                       str(request.get("rendezvous") or ""), bytes(request.get("resume") or b""),
                       bytes(request.get("peers") or b""))  # fmt: skip
        device = request.get("device") or loading.best_device()
        path = Path(request["model_path"])
        start = time.perf_counter()
        if request.get("claimed") is not None:  # a verifier's check of someone else's result
            claimed = decode(request["claimed"])
            if hasattr(kind, "check"):  # a cheaper check than re-execution (teacher forcing)
                verdict = kind.check(spec, path, device, claimed)
            else:
                verdict = kind.compare(kind.run(spec, path, device), claimed)
            micros = int((time.perf_counter() - start) * 1e6)
            return {"ok": True, "match": verdict.match, "reason": verdict.reason, "micros": micros}
        if emit is not None and request.get("stream") and spec.kind == "inference":
            payload = kind.run(spec, path, device, on_piece=lambda piece: emit({"piece": piece}))
        else:
            payload = kind.run(spec, path, device)
        result = Result.of(payload)
        seconds = time.perf_counter() - start
        return {"ok": True, "result": result.encoded, "hash": result.hash, "micros": int(seconds * 1e6)}
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def read_frame(stream: BinaryIO) -> bytes | None:
    header = stream.read(4)
    if len(header) < 4:
        return None
    size = int.from_bytes(header, "big")
    if size > MAX_REQUEST:
        raise ValueError("request too large")
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


def write_frame(stream: BinaryIO, payload: bytes) -> None:
    stream.write(len(payload).to_bytes(4, "big") + payload)
    stream.flush()


def _exit_with_parent() -> None:
    """A killed node must not leave its sandbox running: poll the parent."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def serve() -> None:
    _exit_with_parent()
    # Frames own the real stdout; anything a library prints goes to stderr.
    frames = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer
    while (data := read_frame(requests)) is not None:
        write_frame(frames, encode(handle(decode(data), partial(_emit, frames))))


def _emit(frames: BinaryIO, frame: dict[str, Any]) -> None:
    write_frame(frames, encode(frame))


def listen(path: Path, idle_exit: float) -> None:
    """Serve each connection's frames until it closes; the node holds one
    connection for as long as it uses this container."""
    sys.stdout = sys.stderr
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    os.chmod(path, 0o666)  # the node's user is not this container's
    server.listen(1)
    server.settimeout(idle_exit)
    while True:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            return
        conn.settimeout(None)
        with (
            conn,
            conn.makefile("rb") as requests,
            conn.makefile("wb") as frames,
            contextlib.suppress(Exception),
        ):
            while (data := read_frame(requests)) is not None:
                write_frame(frames, encode(handle(decode(data), partial(_emit, frames))))


if __name__ == "__main__":
    # the sandbox's stderr is the runner log: long jobs tell their progress there
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    if len(sys.argv) >= 3 and sys.argv[1] == "--listen":
        idle = float(sys.argv[4]) if len(sys.argv) == 5 and sys.argv[3] == "--idle-exit" else 120.0
        listen(Path(sys.argv[2]), idle)
    else:
        serve()
