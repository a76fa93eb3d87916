"""The client side of `agent.runner --listen`: a warm runner's frames over a
Unix socket (a Docker container's, or a runner started by hand on a GPU
machine). Answers are size-checked before they are read: a runner cannot
make its node allocate what it likes."""

import socket
import time
from collections.abc import Callable
from pathlib import Path

from agent.executor import MAX_ANSWER, ExecutorError, OnPiece, decoded, forward, piece_of


def connect(path: Path, deadline: float, check: Callable[[], None]) -> socket.socket:
    """A connection once the runner listens; `check` raises if it died first."""
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(path))
            return conn
        except OSError:
            conn.close()
        check()
        if time.monotonic() > deadline:
            raise ExecutorError("the runner did not start listening in time")
        time.sleep(0.1)


def exchange(conn: socket.socket, payload: bytes, deadline: float, on_piece: OnPiece | None = None,
             streaming: bool = False) -> bytes:  # fmt: skip
    """Send one request frame and read its answer; TimeoutError past
    `deadline`. A streaming request's piece frames go to `on_piece` first."""
    conn.settimeout(max(deadline - time.monotonic(), 0.001))
    conn.sendall(len(payload).to_bytes(4, "big") + payload)
    while True:
        conn.settimeout(max(deadline - time.monotonic(), 0.001))
        size = int.from_bytes(_read(conn, 4), "big")
        if size > MAX_ANSWER:
            raise ExecutorError(
                f"the runner announced a {size >> 20} MiB answer, over the {MAX_ANSWER >> 20} MiB limit"
            )
        frame = _read(conn, size)
        piece = piece_of(decoded(frame)) if streaming else None
        if piece is None:
            return frame
        on_piece = forward(on_piece, piece)


def _read(conn: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(min(size - len(data), 1 << 20))
        if not chunk:
            raise ConnectionResetError("the runner closed its socket")
        data += chunk
    return bytes(data)
