"""The providers of one distributed LoRA job as a torch.distributed group.

The rendezvous is the first provider's address (`host:port`), which the
chain tells the others. There the lead's process hosts the group's
`TCPStore` (torch.distributed's key-value store), and by default the
rounds travel through it too (`backend="store"`): each member puts its
round's vector under its own key and reads the others'. Why not gloo's
all-gather: gloo joins every pair of members directly, on ports of their
own choosing, so each member must accept connections from all the others;
through the store a member needs one connection, to the one address the
chain named. That is what a sandbox without a network can be given
(`agent.relay`), and what works behind NAT. A round sends a few MiB at most,
once per H steps, so the lead relaying it costs little.

`backend="gloo"` and `"nccl"` remain for the bench and for providers that
can reach each other directly (NCCL: one GPU per member). Every exchange
has a timeout, so a provider that vanished makes the others fail the round
(the job goes on from the last round) instead of hanging.

The store is open to anyone who reaches the lead's port. With `keys` (one
per other member, by rank: what each pair of providers derive from their
chain keys, `offchain.group_keys`), every round's vector carries a tag for
each reader, so a stranger who writes a member's key breaks the round (the
group goes on later) but cannot put a vector of its own into the average.

A rendezvous `unix:PATH` means this process has no network: the group is
reached through the Unix socket PATH, which the executor outside joins to
the real address (`agent.relay`).
"""

import atexit
import contextlib
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from agent import relay

DEFAULT_TIMEOUT = 120.0  # seconds for the group to form and for each exchange
BEAT_SECONDS = 2.0  # each member bumps its counter in the store this often, training or not
# a member whose counter stood still this long is gone (its node was killed):
# the store, unlike gloo's sockets, would otherwise wait the whole timeout
SILENT_SECONDS = 20.0
BACKENDS = ("store", "gloo", "nccl")
TAG_BYTES = 16
EXIT_JOIN_SECONDS = 5.0  # how long the exit waits for a beat caught inside a store call


class GroupBroken(Exception):
    """A peer vanished (closed its connection, or timed out): the round is lost, not the job."""


def _address(rendezvous: str) -> tuple[str, int]:
    host, _, port = rendezvous.rpartition(":")
    host = host.strip("[]")  # an IPv6 address is written [host]:port
    if not host or not port.isdigit():
        raise ValueError(f"a rendezvous is host:port, not {rendezvous!r}")
    return host, int(port)


# Every beating thread, so the process stops them before the interpreter
# finalizes: a daemon thread still inside a TCPStore call then is ended by
# pthread_exit through pybind11's noexcept frames, and std::terminate aborts
# the whole process ("terminate called without an active exception").
_beats: set[tuple[threading.Event, threading.Thread]] = set()
_beats_lock = threading.Lock()


_exiting = False  # set by the exit: a group formed after it does not beat


@atexit.register
def stop_beats() -> None:
    global _exiting
    with _beats_lock:
        _exiting = True
        beats = list(_beats)
    for stop, _ in beats:
        stop.set()
    for _, thread in beats:
        if thread.is_alive():
            thread.join(EXIT_JOIN_SECONDS)


def _store(rank: int, world: int, rendezvous: str, timeout: timedelta) -> tuple[Any, relay.Relay | None]:
    """The group's store, and the bridge to it when it is behind a Unix socket."""
    from torch.distributed import TCPStore  # type: ignore[attr-defined]

    if not rendezvous.startswith("unix:"):
        host, port = _address(rendezvous)
        return TCPStore(host, port, world, rank == 0, timeout), None
    path = rendezvous.removeprefix("unix:")
    if rank == 0:  # the store listens inside; the executor brings the others in through `path`
        store = TCPStore("127.0.0.1", 0, world, True, timeout, wait_for_workers=False)
        bridge = relay.Relay(relay.unix_listener(path), relay.tcp_connector("127.0.0.1", store.port))
        return store, bridge.start()
    listener = relay.tcp_listener("127.0.0.1", 0)
    bridge = relay.Relay(listener, relay.unix_connector(path)).start()
    try:
        return TCPStore("127.0.0.1", listener.getsockname()[1], world, False, timeout), bridge
    except Exception:
        bridge.close()
        raise


@dataclass
class Group:
    rank: int
    world: int
    bytes_sent: int = 0  # payload this provider put on the wire
    exchanges: int = 0
    backend: str = "store"
    broken: bool = False
    timeout: float = DEFAULT_TIMEOUT
    keys: list[bytes] | None = field(default=None, repr=False)
    _store: Any = field(default=None, repr=False)
    _beating: threading.Event = field(default_factory=threading.Event, repr=False)
    _pg: Any = field(default=None, repr=False)
    _bridge: relay.Relay | None = field(default=None, repr=False)

    @classmethod
    def join(
        cls, rank: int, world: int, rendezvous: str, timeout: float = DEFAULT_TIMEOUT, backend: str = "store",
        keys: list[bytes] | None = None,
    ) -> "Group":  # fmt: skip
        if backend not in BACKENDS:
            raise ValueError(f"a group's backend is one of {', '.join(BACKENDS)}, not {backend!r}")
        if keys is not None and (
            backend != "store" or len(keys) != world
            or not all(isinstance(k, bytes) and len(k) == 32 for r, k in enumerate(keys) if r != rank)
        ):  # fmt: skip
            raise ValueError("keys: 32 bytes for each other member, by rank, and only through the store")
        group = cls(rank, world, backend=backend, timeout=timeout, keys=keys)
        if world == 1:
            return group
        import torch.distributed as dist

        span = timedelta(seconds=timeout)
        group._store, group._bridge = _store(rank, world, rendezvous, span)
        # private group objects, not the process-global default: a runner may
        # serve other jobs before and after this one
        if backend == "nccl":
            options = dist.ProcessGroupNCCL.Options()
            options._timeout = span
            group._pg = dist.ProcessGroupNCCL(group._store, rank, world, options)
        elif backend == "gloo":
            group._pg = dist.ProcessGroupGloo(group._store, rank, world, span)
        else:
            group._start_beating()
        return group

    def _start_beating(self) -> None:
        thread = threading.Thread(
            target=self._beat, args=(self._store.clone(),), name="group beat", daemon=True
        )
        with _beats_lock:
            if _exiting:
                return
            _beats.add((self._beating, thread))
        try:
            thread.start()
        except BaseException:
            with _beats_lock:
                _beats.discard((self._beating, thread))
            raise

    def _beat(self, store: Any) -> None:
        """On its own connection, so a long inner round never looks like a death."""
        try:
            while not self._beating.wait(BEAT_SECONDS) and not self.broken:
                try:
                    store.add(f"beat/{self.rank}", 1)
                except (RuntimeError, OSError):
                    return
        finally:
            with _beats_lock:
                _beats.discard((self._beating, threading.current_thread()))

    def _await(self, key: str, rank: int) -> bytes:
        """The value under `key` once member `rank` put it; a member that
        stopped beating, or the timeout, breaks the group."""
        start = time.monotonic()
        beats, heard, pause = -1, start, 0.001
        while not self._store.check([key]):
            now = time.monotonic()
            counter = self._store.add(f"beat/{rank}", 0)
            if counter != beats:
                beats, heard = counter, now
            elif now - heard > SILENT_SECONDS:
                raise RuntimeError(f"member {rank} went silent for {SILENT_SECONDS:.0f} s")
            if now - start > self.timeout:
                raise RuntimeError(f"member {rank} sent nothing for {self.timeout:.0f} s (timeout)")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        return bytes(self._store.get(key))

    def gather(self, vector: Any) -> list[Any]:
        """Every provider's vector, in rank order."""
        if self.world == 1:
            return [vector]
        try:
            parts = self._through_store(vector) if self._pg is None else self._collective(vector)
        except (RuntimeError, OSError) as exc:  # a dead peer's connection, a timeout
            self.broken = True
            raise GroupBroken(str(exc)) from None
        self.exchanges += 1
        return parts

    def _through_store(self, vector: Any) -> list[Any]:
        import torch

        flat = vector.detach().cpu().contiguous()
        size = flat.numel() * flat.element_size()
        round_ = self.exchanges
        data = flat.numpy().tobytes()
        self._store.set(f"r{round_}/{self.rank}", data + self._tags(round_, data))
        # on the network: a member uploads its vector once; the lead's store
        # serves each other member the vectors it lacks
        sent = size + (self.world * TAG_BYTES if self.keys else 0)
        self.bytes_sent += (self.world - 1) ** 2 * sent if self.rank == 0 else sent
        parts = []
        for rank in range(self.world):
            if rank == self.rank:
                parts.append(vector)
                continue
            raw = self._opened(round_, rank, self._await(f"r{round_}/{rank}", rank), size)
            parts.append(
                torch.frombuffer(bytearray(raw), dtype=flat.dtype).reshape(flat.shape).to(vector.device)
            )
        if round_:  # everyone put round r, so everyone has read round r - 1: the lead's memory stays small
            self._store.delete_key(f"r{round_ - 1}/{self.rank}")
        return parts

    def _tag(self, key: bytes, round_: int, sender: int, data: bytes) -> bytes:
        header = round_.to_bytes(4, "big") + sender.to_bytes(1, "big")
        return hashlib.blake2b(header + data, key=key, digest_size=TAG_BYTES).digest()

    def _tags(self, round_: int, data: bytes) -> bytes:
        """A tag for each reader, by rank (none for this member itself)."""
        if not self.keys:
            return b""
        return b"".join(
            bytes(TAG_BYTES) if rank == self.rank else self._tag(key, round_, self.rank, data)
            for rank, key in enumerate(self.keys)
        )

    def _opened(self, round_: int, sender: int, raw: bytes, size: int) -> bytes:
        """`sender`'s vector, once its tag for this member checks out."""
        expected = size + (self.world * TAG_BYTES if self.keys else 0)
        if len(raw) != expected:
            raise RuntimeError(f"member {sender} sent {len(raw)} bytes for a round of {expected}")
        data = raw[:size]
        if self.keys:
            at = size + self.rank * TAG_BYTES
            if not hmac.compare_digest(
                raw[at : at + TAG_BYTES], self._tag(self.keys[sender], round_, sender, data)
            ):
                raise RuntimeError(f"member {sender}'s round vector failed its authentication")
        return data

    def _collective(self, vector: Any) -> list[Any]:
        import torch

        home = vector.device
        if self.backend == "nccl":
            vector = vector.cuda()
        parts = [torch.empty_like(vector) for _ in range(self.world)]
        self._pg.allgather([parts], [vector]).wait()
        self.bytes_sent += vector.numel() * vector.element_size() * (self.world - 1)
        return [part.to(home) for part in parts]

    def close(self) -> None:
        """The lead's store serves the others' last reads: it waits (within
        the timeout) until every member said it is done before it goes."""
        if self._store is not None and not self.broken:
            with contextlib.suppress(RuntimeError, OSError):
                self._store.set(f"done/{self.rank}", b"1")
                if self.rank == 0 and self.backend == "store":
                    for rank in range(1, self.world):
                        self._await(f"done/{rank}", rank)
        self._beating.set()
        self._store = self._pg = None
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = None


def outside_bridge(rank: int, rendezvous: str, path: str) -> relay.Relay:
    """The executor's half of a sandboxed member's way to its group: the
    lead's published address brought in to the store behind `path`, or a
    member's `path` taken out to the lead's address. The sandbox is given
    `unix:` + the path as it sees it."""
    host, port = _address(rendezvous)
    if rank == 0:
        return relay.Relay(relay.tcp_listener(host, port), relay.unix_connector(path)).start()
    return relay.Relay(relay.unix_listener(path), relay.tcp_connector(host, port)).start()
