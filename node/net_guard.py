"""Isolation from the network library's own bugs.

py-libp2p runs its pubsub and router as services whose background tasks
share one task group: one task that raises (say a `KeyError` in a race
between a peer's teardown and the dead-peer handler) cancels the service,
and the error climbs into whatever nursery runs it: the node's. Here every
task those services start is wrapped: a one-shot task that raises is logged
and dropped. A daemon task that raises is logged and, when calling it again
is safe, started again after a backoff; pubsub's peer and dead-peer queue
readers are not: each runs inside `async with` its receive channel, so its
failure closed the channel and a second call could only fail again. Their
failure, or a restarted daemon's failing again within a minute, rebuilds the whole host (the
`escalate` hook `node.p2p.Network` installs), as does what still escapes
(the swarm's own tasks), caught one level up in `Network`.

Repeated failures are logged once per cause per minute, with the count of
those suppressed, so a storm of one library error cannot flood the log.
"""

import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pubsub import Pubsub

log = logging.getLogger("vcoin.p2p")
REPEAT_SECONDS = 60.0
DAEMON_BACKOFF = 1.0
DAEMON_MAX_BACKOFF = 30.0
HEALTHY_SECONDS = 60.0  # a restarted daemon that fails again sooner gets its host rebuilt
# Daemons that own a channel they close when they end: never called twice.
NOT_RESTARTABLE = frozenset({"Pubsub.handle_peer_queue", "Pubsub.handle_dead_peer_queue"})
# (where, exception) -> None: rebuild the host (or pubsub) the daemon belonged to.
Escalate = Callable[[str, BaseException], None]


class FailureLog:
    """Logs a failure the first time its (where, type) is seen in a window,
    then counts repeats silently until the window ends."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.seen: dict[tuple[str, str], tuple[float, int]] = {}
        self.total = 0

    def report(self, where: str, exc: BaseException) -> bool:
        """Record a failure; True when it was written to the log."""
        self.total += 1
        key = (where, type(exc).__name__)
        now = self.clock()
        since, suppressed = self.seen.get(key, (-REPEAT_SECONDS, 0))
        if now - since < REPEAT_SECONDS:
            self.seen[key] = (since, suppressed + 1)
            return False
        if len(self.seen) > 256:  # many causes at once: forget the old ones
            self.seen.clear()
        self.seen[key] = (now, 0)
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        log.warning(
            "network library error in %s, isolated: %s: %s%s", where, type(exc).__name__, exc, more,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )  # fmt: skip
        return True


failures = FailureLog()


def _name_of(async_fn: Any) -> str:
    return str(getattr(async_fn, "__qualname__", None) or getattr(async_fn, "__name__", repr(async_fn)))


def guard_task(
    async_fn: Callable[..., Awaitable[Any]], daemon: bool, escalate: Escalate | None = None
) -> Callable[..., Awaitable[Any]]:
    where = _name_of(async_fn)

    async def once(*args: Any) -> None:
        try:
            await async_fn(*args)
        except Exception as exc:
            failures.report(where, exc)

    async def forever(*args: Any) -> None:
        backoff = DAEMON_BACKOFF
        restarted = False
        while True:
            began = trio.current_time()
            try:
                await async_fn(*args)
                return  # a daemon that ends by itself: the service is stopping
            except Exception as exc:
                failures.report(where, exc)
                healthy = trio.current_time() - began > HEALTHY_SECONDS
                if where in NOT_RESTARTABLE or (restarted and not healthy):
                    if escalate is None:
                        raise  # nothing can rebuild it: let its service fail rather than limp
                    escalate(where, exc)
                    await trio.sleep_forever()  # until the host it belongs to is torn down
                if healthy:
                    backoff = DAEMON_BACKOFF
            restarted = True
            await trio.sleep(backoff)
            backoff = min(backoff * 2, DAEMON_MAX_BACKOFF)

    return forever if daemon else once


class GuardedManager:
    """The service's manager, with every task it is asked to run wrapped."""

    def __init__(self, inner: Any, escalate: Escalate | None = None) -> None:
        self._inner = inner
        self._escalate = escalate

    def run_task(self, async_fn: Any, *args: Any, daemon: bool = False, name: str | None = None) -> None:
        self._inner.run_task(
            guard_task(async_fn, daemon, self._escalate),
            *args,
            daemon=daemon,
            name=name or _name_of(async_fn),
        )

    def run_daemon_task(self, async_fn: Any, *args: Any, name: str | None = None) -> None:
        self.run_task(async_fn, *args, daemon=True, name=name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)


class GuardedPubsub(Pubsub):
    escalate: Escalate | None = None  # set by whoever can rebuild it

    @property
    def manager(self) -> Any:
        return GuardedManager(self._manager, self.escalate)

    async def write_msg(self, stream: Any, rpc_msg: Any) -> bool:
        writes = self.__dict__.setdefault("_vcoin_writes", SerializedWrites())
        async with writes.lock(stream):
            return await super().write_msg(stream, rpc_msg)


class GuardedGossipSub(GossipSub):
    escalate: Escalate | None = None

    @property
    def manager(self) -> Any:
        return GuardedManager(self._manager, self.escalate)


def guard_stream_handlers(host: Any) -> None:
    """Wrap every protocol handler the host has or will get (identify, ping,
    pubsub's, ours): a handler that raises (a peer's malformed protobuf, a
    library bug) costs that one stream, never the swarm that called it."""
    muxer = host.get_mux()
    for protocol, handler in list(muxer.handlers.items()):
        if handler is not None:
            muxer.handlers[protocol] = _guard_handler(str(protocol), handler)
    add = muxer.add_handler

    def add_guarded(protocol: Any, handler: Any) -> None:
        add(protocol, None if handler is None else _guard_handler(str(protocol), handler))

    muxer.add_handler = add_guarded


def _guard_handler(
    protocol: str, handler: Callable[[Any], Awaitable[None]]
) -> Callable[[Any], Awaitable[None]]:
    if getattr(handler, "_vcoin_guarded", False):
        return handler

    async def guarded(stream: Any) -> None:
        try:
            await handler(stream)
        except Exception as exc:
            failures.report(f"the {protocol} stream handler", exc)
            with contextlib.suppress(Exception):
                await stream.reset()

    guarded._vcoin_guarded = True  # type: ignore[attr-defined]
    return guarded


class SerializedWrites:
    """One writer at a time per pubsub stream. py-libp2p's gossipsub writes
    to a peer's stream from its send queue and, when the peer (re)joins, from
    the message cache at the same time; yamux splits a large message into
    window-sized frames, so two concurrent writes interleave and the peer reads
    garbage (a protobuf DecodeError) and loses the stream."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[Any, trio.Lock] = weakref.WeakKeyDictionary()

    def lock(self, stream: Any) -> trio.Lock:
        found = self._locks.get(stream)
        if found is None:
            found = self._locks[stream] = trio.Lock()
        return found
