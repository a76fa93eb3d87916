"""The WebSocket RPC's clients and what each may hold of the node.

A `Connection` is one client: its subscriptions and a bounded outbox the
WebSocket layer (`node.rpc_ws`) drains, bounded both in messages and in
bytes (a few large answers must not hold more memory than many small
ones). `Clients` admits connections: at most `max_connections` in all and
`max_per_address` from one address, so one host cannot take every slot
(an address as `address_key` groups them: every loopback address is one,
an IPv6 client's /64 is one, as a host gets a whole /64).
Idle clients (no message and no subscription for `IDLE_SECONDS`) are closed
by `node.rpc_ws`, so held-open sockets do not keep slots either.
"""

import ipaddress

import trio

MAX_CONNECTIONS = 64
MAX_PER_ADDRESS = 16  # one address's share: a quarter of the slots
OUTBOX = 256  # messages waiting for one client; past this the client is too slow
MAX_QUEUED = 4 * 1024 * 1024  # characters of JSON waiting for one client (ASCII: bytes)
IDLE_SECONDS = 30.0  # like the HTTP keep-alive: a client that neither asks nor listens goes


def address_key(host: str | None) -> str | None:
    """What the per-address cap counts: 127.0.0.2 is the same machine as
    127.0.0.1, and the addresses of one IPv6 /64 are one host's to use."""
    if host is None:
        return None
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host  # a Unix socket path or a name: counted as given
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class Connection:
    """One WebSocket client: its subscriptions and its bounded outbox."""

    def __init__(self, address: str | None = None, max_queued: int = MAX_QUEUED) -> None:
        self.address = address
        self.key = address  # what the per-address cap counts it under (`address_key`)
        self.max_queued = max_queued
        self.outbox, self.inbox = trio.open_memory_channel[str](OUTBOX)
        self.subscriptions: dict[str, str] = {}  # id -> kind
        self.kicked = trio.Event()
        self.why = ""  # what the node tells a client it closes (and logs)
        self.queued = 0  # characters in the outbox
        self.last_active = 0.0  # trio time of the last message received
        self._drained = trio.lowlevel.ParkingLot()

    def push(self, text: str) -> None:
        """Queue without waiting; a full outbox means the client does not read: drop it."""
        if self.kicked.is_set():
            return
        if self.queued + len(text) > self.max_queued:
            self.kick()
            return
        try:
            self.outbox.send_nowait(text)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            self.kick()
            return
        self.queued += len(text)

    async def put(self, text: str) -> None:
        """Queue an answer, waiting for room in messages and in bytes (an
        answer larger than the whole budget waits for an empty outbox)."""
        while self.queued and self.queued + len(text) > self.max_queued:
            await self._drained.park()
        self.queued += len(text)
        try:
            await self.outbox.send(text)
        except BaseException:
            self.queued -= len(text)
            raise

    def sent(self, text: str) -> None:
        """The writer handed `text` to the socket: its room is free again."""
        self.queued -= len(text)
        self._drained.unpark_all()

    def idle(self) -> bool:
        return not self.subscriptions

    def kick(self, why: str = "it does not read what it is sent") -> None:
        if not self.kicked.is_set():
            self.why = why
            self.kicked.set()


class Clients:
    """The connections open now, admitted within the global and per-address caps."""

    def __init__(
        self, max_connections: int = MAX_CONNECTIONS, max_per_address: int = MAX_PER_ADDRESS
    ) -> None:
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.connections: set[Connection] = set()
        self._per_address: dict[str | None, int] = {}  # only addresses with a connection open

    def open(self, address: str | None = None) -> Connection | None:
        """A new connection, or None when there are too many (in all, or from `address`)."""
        if len(self.connections) >= self.max_connections:
            return None
        key = address_key(address)
        if self._per_address.get(key, 0) >= self.max_per_address:
            return None
        connection = Connection(address)
        connection.key = key
        self.connections.add(connection)
        self._per_address[key] = self._per_address.get(key, 0) + 1
        return connection

    def close(self, connection: Connection) -> None:
        if connection not in self.connections:
            return
        self.connections.discard(connection)
        left = self._per_address.pop(connection.key, 0) - 1
        if left > 0:
            self._per_address[connection.key] = left
        connection.outbox.close()
