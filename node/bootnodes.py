"""Dialing the configured bootnodes, and telling the operator why one fails.

Each bootnode's state is logged when it changes, with the reason in words:
malformed (once, at start), unreachable, wrong peer id or not a VCoin node
(the secure handshake failed), or no answer in time. A bootnode that keeps
failing is retried with a backoff instead of on every sync round.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import multiaddr
import trio
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr

log = logging.getLogger("vcoin.p2p")
FIRST_RETRY = 2.0
MAX_RETRY = 60.0


@dataclass
class Bootnode:
    address: str
    info: PeerInfo
    state: str = "new"  # "connected", or the reason of the last failure
    retry_at: float = 0.0
    backoff: float = FIRST_RETRY


def parse_bootnodes(addresses: list[str]) -> list[Bootnode]:
    """The usable bootnodes; each malformed one is reported once, here."""
    parsed = []
    for address in addresses:
        try:
            parsed.append(Bootnode(address, info_from_p2p_addr(multiaddr.Multiaddr(address))))
        except Exception as exc:
            log.warning(
                "ignoring bootnode %r: malformed (%s); expected /ip4/HOST/tcp/PORT/p2p/PEER_ID", address, exc
            )
    return parsed


def failure_reason(exc: BaseException) -> str:
    """A dial error in words (py-libp2p nests the real cause in its chain)."""
    text = " ".join(_messages(exc)).lower()
    if "handshake" in text or "upgrade security" in text:
        return "handshake failed: wrong peer id in the address, or not a VCoin node"
    if isinstance(exc, trio.TooSlowError) or "timed out" in text or "timeout" in text:
        return "unreachable: no answer in time"
    if "negative cache" in text:
        return "unreachable: it failed moments ago"
    return "unreachable: nothing accepts connections at that address"


def _messages(exc: BaseException) -> list[str]:
    found: list[str] = []
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack and len(found) < 32:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        found.append(f"{type(current).__name__} {current}")
        stack.extend(getattr(current, "exceptions", None) or [])
        stack.extend(getattr(current, "errors", None) or [])
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)
    return found


class BootnodeDialer:
    def __init__(self, addresses: list[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.nodes = parse_bootnodes(addresses)
        self.clock = clock

    def due(self, connected: set[str], banned: Callable[[Any], bool]) -> list[Bootnode]:
        """Bootnodes to dial now: not connected, not banned, past their backoff."""
        now = self.clock()
        result = []
        for node in self.nodes:
            if str(node.info.peer_id) in connected:
                self.connected(node)
            elif not banned(node.info.peer_id) and now >= node.retry_at:
                result.append(node)
        return result

    def connected(self, node: Bootnode) -> None:
        if node.state != "connected":
            log.info("connected to bootnode %s", node.info.peer_id)
        node.state, node.backoff, node.retry_at = "connected", FIRST_RETRY, 0.0

    def failed(self, node: Bootnode, exc: BaseException) -> None:
        reason = failure_reason(exc)
        if reason != node.state:
            log.warning("bootnode %s: %s (retrying with a backoff)", node.address, reason)
        node.state = reason
        node.retry_at = self.clock() + node.backoff
        node.backoff = min(node.backoff * 2, MAX_RETRY)
