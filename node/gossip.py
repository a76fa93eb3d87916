"""Gossip over py-libp2p gossipsub: blocks, extrinsics and finality votes.

Every topic is namespaced by the genesis hash. A message is a msgpack list
of encoded items, so many extrinsics or votes travel in one message; an
outbox per topic is flushed at most `FLUSH_HZ` times a second, below the
router's per-topic spam limit, because gossipsub drops bursts silently.
Gossip is a fast path only: sync fetches anything it missed over streams.

Each message is checked by the topic's handler before it is relayed: the
handler imports or refuses it. The forwarding peer answers for it with the
offence's points (`node.peer_book.WEIGHTS`): garbage bans at once, invalid
items (a bad signature, an invalid block) twice over, and junk that is only
unwanted (far-future transactions, votes of unknown voters) costs a little
per message and never bans by itself: it is judged against this node's own
state, which an honest peer's may differ from. The node judges
"unwanted" leniently while it is behind (`Node._fair`): then honest peers
send exactly that.
"""

import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import Enum
from typing import Any

import msgpack
import trio
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11
from libp2p.tools.anyio_service import background_trio_service

from node.net_guard import Escalate, GuardedGossipSub, GuardedPubsub
from node.peer_book import Offence
from runtime.constants import MAX_BLOCK_BYTES

log = logging.getLogger("vcoin.gossip")
FLUSH_HZ = 8
MAX_ITEMS = 512
VALIDATION_SECONDS = 30.0  # a block may wait for another's import before its own


class Gossiped(Enum):
    RELAY = "relay"  # valid and new: pass it on
    DROP = "drop"  # not useful (known, or unknown parent): no relay, no blame
    SPAM = "spam"  # unwanted junk: no relay, and the forwarding peer loses a few points (Offence.SPAM)
    BAD = "bad"  # invalid: no relay, and the forwarding peer loses much (Offence.INVALID)


# (peer, items) -> Gossiped, or an async function giving one.
Handler = Callable[[Any, list[bytes]], Any]

BLOCKS, EXTRINSICS, VOTES = "blocks", "extrinsics", "votes"
MESSAGE_LIMITS = {BLOCKS: MAX_BLOCK_BYTES + 4096, EXTRINSICS: 512 * 1024, VOTES: 256 * 1024}


def decode_items(data: bytes, limit: int) -> list[bytes] | None:
    """The items of a gossip message, or None if it is not one."""
    if len(data) > limit:
        return None
    try:
        items = msgpack.unpackb(data, raw=False, max_bin_len=limit, max_array_len=MAX_ITEMS)
    except Exception:
        return None
    if type(items) is not list or not items or not all(type(i) is bytes for i in items):
        return None
    return list(items)


class Gossip:
    def __init__(
        self,
        genesis_hash: bytes,
        punish: Callable[[Any, Offence, str], None],
        is_banned: Callable[[Any], bool] = lambda peer: False,
    ) -> None:
        self.punish = punish
        self.is_banned = is_banned
        prefix = f"/vcoin/{genesis_hash[:8].hex()}"
        self.topics = {name: f"{prefix}/{name}/1" for name in MESSAGE_LIMITS}
        self.handlers: dict[str, Handler] = {}
        self.outbox: dict[str, list[bytes]] = {name: [] for name in MESSAGE_LIMITS}
        # Called when a library daemon failed in a way only a rebuild mends (`node.net_guard`).
        self.escalate: Escalate | None = None

    def bind(self, host: Any) -> None:
        """A fresh router and pubsub on `host` (again after the host is rebuilt);
        the guarded classes keep a library task's error inside the library."""
        self.host = host
        self.router = GuardedGossipSub(
            protocols=[PROTOCOL_ID_V11],
            degree=6, degree_low=4, degree_high=12,
            heartbeat_initial_delay=0.5, heartbeat_interval=1,
            max_messages_per_topic_per_second=4.0 * FLUSH_HZ,
        )  # fmt: skip
        self.pubsub = GuardedPubsub(
            host, self.router, max_inbound_rpc_size=MAX_BLOCK_BYTES + 64 * 1024,
            validation_timeout=VALIDATION_SECONDS,
        )  # fmt: skip
        self.router.escalate = self.pubsub.escalate = self.escalate

    def on(self, name: str, handler: Handler) -> None:
        self.handlers[name] = handler

    def publish(self, name: str, item: bytes) -> None:
        """Queue an item; the next flush sends it with others of its topic."""
        box = self.outbox[name]
        box.append(item)
        del box[: -4 * MAX_ITEMS]

    def _screen(self, name: str, forwarder: Any, msg: Any) -> list[bytes] | None:
        """The message's items if it is worth a handler's time."""
        if self.is_banned(forwarder):  # judged by who forwards it, never by who wrote it
            return None
        items = decode_items(msg.data, MESSAGE_LIMITS[name])
        if items is None:
            self.punish(forwarder, Offence.GARBAGE, f"undecodable {name} gossip")
        return items

    def _judge(self, name: str, forwarder: Any, verdict: Gossiped) -> bool:
        if verdict is Gossiped.BAD:
            self.punish(forwarder, Offence.INVALID, f"invalid {name} gossip")
        elif verdict is Gossiped.SPAM:
            self.punish(forwarder, Offence.SPAM, f"unwanted {name} gossip")
        return verdict is Gossiped.RELAY

    def _validator(self, name: str) -> Callable[[Any, Any], Awaitable[bool]]:
        """The topic's validator; a handler may be async (e.g. block import
        in a worker thread), so the validator is."""

        async def validate(forwarder: Any, msg: Any) -> bool:
            if forwarder == self.host.get_id():
                return True
            handler = self.handlers.get(name)
            items = self._screen(name, forwarder, msg)
            if items is None or handler is None:
                return False
            try:
                verdict = handler(forwarder, items)
                if inspect.isawaitable(verdict):
                    verdict = await verdict
            except Exception as exc:  # a handler bug must not take the router down
                log.exception("gossip %s handler failed: %s", name, exc)
                return False
            return self._judge(name, forwarder, verdict)

        return validate

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with background_trio_service(self.pubsub), background_trio_service(self.router):
            await self.pubsub.wait_until_ready()
            async with trio.open_nursery() as nursery:
                for name, topic in self.topics.items():
                    self.pubsub.set_topic_validator(topic, self._validator(name), True)
                    subscription = await self.pubsub.subscribe(topic)
                    nursery.start_soon(self._drain, subscription)
                nursery.start_soon(self._flush_loop)
                yield
                nursery.cancel_scope.cancel()

    async def _drain(self, subscription: Any) -> None:
        # Handlers did the work in validation; delivered copies are discarded
        # so the 32-deep subscription queue never overflows.
        while True:
            await subscription.get()

    async def _flush_loop(self) -> None:
        while True:
            await trio.sleep(1 / FLUSH_HZ)
            for name, box in self.outbox.items():
                if box:
                    await self._flush(name, box)

    async def _flush(self, name: str, box: list[bytes]) -> None:
        limit = MESSAGE_LIMITS[name] - 1024
        batch: list[bytes] = []
        size = 0
        while box and len(batch) < MAX_ITEMS and (not batch or size + len(box[0]) <= limit):
            item = box.pop(0)
            batch.append(item)
            size += len(item) + 8
        try:
            await self.pubsub.publish(self.topics[name], msgpack.packb(batch, use_bin_type=True))
        except Exception as exc:
            log.debug("publishing %s failed: %s", name, exc)
