"""A byte relay between two kinds of socket, for a group member whose
sandbox has no network (docs/distributed-lora.md, Docker sandbox).

The container keeps `network_mode: none`: its runner reaches the group's
store through a Unix socket in the folder the host mounts into it, and the
node's executor joins that socket to the one TCP address the chain named,
the lead's rendezvous. Nothing else in the container can reach a network.

Each accepted connection is joined to a fresh one from `connect`, and bytes
flow both ways until either side closes. The relay holds at most
`max_connections` at once (a group's store needs one per member), so a
stranger who finds the lead's port cannot open thousands.
"""

import contextlib
import logging
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable

log = logging.getLogger("vcoin.agent.relay")

CHUNK = 1 << 16
CONNECT_SECONDS = 30.0  # the far side's listener may come up a moment after the relay's


def connect_retrying(open_: Callable[[], socket.socket], seconds: float = CONNECT_SECONDS) -> socket.socket:
    """`open_()`, tried again while the listener is not there yet."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return open_()
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def unix_connector(path: str) -> Callable[[], socket.socket]:
    def open_() -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        return sock

    return lambda: connect_retrying(open_)


def tcp_connector(host: str, port: int) -> Callable[[], socket.socket]:
    return lambda: connect_retrying(lambda: socket.create_connection((host, port), timeout=CONNECT_SECONDS))


def _pump(a: socket.socket, b: socket.socket, stopped: threading.Event) -> None:
    """Both directions of one joined pair, until one side closes."""
    with selectors.DefaultSelector() as selector:
        selector.register(a, selectors.EVENT_READ, b)
        selector.register(b, selectors.EVENT_READ, a)
        a.setblocking(True)
        b.setblocking(True)
        while not stopped.is_set():
            for key, _ in selector.select(timeout=0.5):
                source, sink = key.fileobj, key.data
                assert isinstance(source, socket.socket)
                try:
                    data = source.recv(CHUNK)
                    if not data:
                        return
                    sink.sendall(data)
                except OSError:
                    return


class Relay:
    def __init__(
        self, listener: socket.socket, connect: Callable[[], socket.socket], max_connections: int = 16
    ) -> None:
        self.listener, self.connect, self.max_connections = listener, connect, max_connections
        self.stopped = threading.Event()
        self.active: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, name="vcoin-relay", daemon=True)

    def start(self) -> "Relay":
        self.listener.settimeout(0.5)
        self.thread.start()
        return self

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                inbound, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                full = len(self.active) >= self.max_connections
            if full:
                inbound.close()
                continue
            threading.Thread(target=self._join, args=(inbound,), daemon=True).start()

    def _join(self, inbound: socket.socket) -> None:
        try:
            outbound = self.connect()
        except OSError as exc:
            log.warning("relay: the far side did not answer: %s", exc)
            inbound.close()
            return
        with self.lock:
            self.active.update((inbound, outbound))
        try:
            _pump(inbound, outbound, self.stopped)
        finally:
            with self.lock:
                self.active.difference_update((inbound, outbound))
            for sock in (inbound, outbound):
                with contextlib.suppress(OSError):
                    sock.close()

    def close(self) -> None:
        self.stopped.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        with self.lock:
            for sock in self.active:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(timeout=5)


def unix_listener(path: str, mode: int = 0o666) -> socket.socket:
    """A listening Unix socket another user may connect to (the container's
    user is not the node's when the node runs as root)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, mode)
    sock.listen(16)
    return sock


def tcp_listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(16)
    return sock
