"""What this node thinks of its peers: a score per peer id that garbage
lowers and time restores, bans by peer id, and bans by address once
several peer ids from one address were banned (a banned peer that comes
back under a new key is still the same machine).

Scores recover `RECOVERY_PER_SECOND` points a second towards 0, so an
honest peer that once sent something odd is not banned for it later, while
a stream of garbage crosses the threshold quickly. Loopback addresses are
never banned as a whole: a local testnet runs every node on one of them.
"""

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass

BAN_THRESHOLD = -100
BAN_SECONDS = 600.0
RECOVERY_PER_SECOND = 0.5  # a 100-point offence is forgiven after about 3 minutes
BANS_PER_ADDRESS = 3  # peer ids banned from one address within BAN_SECONDS before the address is


@dataclass
class Standing:
    score: float
    at: float


class PeerBook:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.standing: dict[str, Standing] = {}
        self.banned: dict[str, float] = {}  # peer id -> until
        self.address_bans: dict[str, list[float]] = {}  # address -> when its peers were banned
        self.blocked: dict[str, float] = {}  # address -> until
        self.expired: list[str] = []  # peer ids whose ban ended, for the caller to lift elsewhere

    def score(self, peer: str) -> float:
        found = self.standing.get(peer)
        if found is None:
            return 0.0
        return min(0.0, found.score + (self.clock() - found.at) * RECOVERY_PER_SECOND)

    def punish(self, peer: str, points: int, address: str | None = None) -> bool:
        """Lower the peer's score; True when this crossed the threshold and
        banned it (its address too, when that was the last straw)."""
        now = self.clock()
        score = self.score(peer) - points
        self.standing[peer] = Standing(score, now)
        if score > BAN_THRESHOLD or self.is_banned(peer):
            return False
        self.banned[peer] = now + BAN_SECONDS
        if address is not None and not _exempt(address):
            recent = [t for t in self.address_bans.get(address, []) if now - t < BAN_SECONDS] + [now]
            self.address_bans[address] = recent
            if len(recent) >= BANS_PER_ADDRESS:
                self.blocked[address] = now + BAN_SECONDS
        return True

    def is_banned(self, peer: str, address: str | None = None) -> bool:
        now = self.clock()
        until = self.banned.get(peer)
        if until is not None and until < now:
            del self.banned[peer]
            self.standing.pop(peer, None)
            self.expired.append(peer)
            until = None
        return until is not None or (address is not None and self.is_blocked(address))

    def is_blocked(self, address: str) -> bool:
        until = self.blocked.get(address)
        if until is not None and until < self.clock():
            del self.blocked[address]
            self.address_bans.pop(address, None)
            return False
        return until is not None

    def prune(self) -> None:
        """Forget peers whose score has recovered: the book stays as small as the trouble."""
        for peer in [p for p in self.standing if self.score(p) >= 0 and p not in self.banned]:
            del self.standing[peer]
        for address in list(self.blocked):
            self.is_blocked(address)
        for peer in list(self.banned):
            self.is_banned(peer)
        now = self.clock()
        for address in [
            a for a, times in self.address_bans.items() if all(now - t >= BAN_SECONDS for t in times)
        ]:
            del self.address_bans[address]


def _exempt(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return True  # not an IP address: nothing to ban it by
