"""The client of a listening runner: it waits for the socket, gives up when
the runner died, and refuses an answer larger than the limit before reading
it (a container must not make its node allocate what it likes)."""

import socket
import threading
import time
from pathlib import Path

import pytest

from agent import runner_socket
from agent.executor import MAX_ANSWER, ExecutorError


def serve_once(path: Path, answer_header: bytes) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        with conn, server:
            size = int.from_bytes(conn.recv(4), "big")
            while size > 0:
                size -= len(conn.recv(size))
            conn.sendall(answer_header)
            time.sleep(1.0)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_an_oversized_answer_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "agent.sock"
    serve_once(path, (MAX_ANSWER + 1).to_bytes(4, "big"))
    conn = runner_socket.connect(path, time.monotonic() + 10, lambda: None)
    with conn, pytest.raises(ExecutorError, match="over the"):
        runner_socket.exchange(conn, b"request", time.monotonic() + 10)


def test_a_runner_that_never_listens_is_given_up(tmp_path: Path) -> None:
    def died() -> None:
        raise ExecutorError("the runner exited")

    with pytest.raises(ExecutorError, match="exited"):
        runner_socket.connect(tmp_path / "none.sock", time.monotonic() + 10, died)
    with pytest.raises(ExecutorError, match="in time"):
        runner_socket.connect(tmp_path / "none.sock", time.monotonic() + 0.3, lambda: None)


def test_a_closed_socket_mid_answer_is_a_connection_error(tmp_path: Path) -> None:
    path = tmp_path / "agent.sock"
    serve_once(path, (100).to_bytes(4, "big") + b"short")
    conn = runner_socket.connect(path, time.monotonic() + 10, lambda: None)
    with conn, pytest.raises(ConnectionResetError):
        runner_socket.exchange(conn, b"request", time.monotonic() + 10)
