"""What this node thinks of its peers: a score per peer id that offences
lower and time restores, bans by peer id, and bans by address once several
peer ids from one address were banned (a banned peer that comes back under
a new key is still the same machine).

Every offence has declared points (`WEIGHTS`); a peer is banned when its
score reaches `BAN_THRESHOLD`. Only provable garbage bans: bytes no honest
node sends (one such offence reaches the threshold at once), data invalid by
the consensus rules or wrongly signed (two close together), blocks on an
unknown parent sealed by no validator we know (four). The score decays
towards 0, halving every `HALF_LIFE_SECONDS`, so an honest peer that once
sent something odd is not banned for it later, while a stream of garbage
crosses the threshold quickly.

Some offences can never ban on their own (`FLOORS`): they grade a peer (the
lowest-scored go first when there are too many peers) but never take it
below half the threshold. Being slow is one: honest peers that are merely
slow or far away stay. Spam is the other: it is judged against this node's
own state (a transaction whose sender cannot pay or whose nonce is far
ahead, by the balance and nonce we see; a vote of a voter we do not know
about a block we lack), and an honest peer that sees another chain, or a
newer one, relays exactly that; only its own provable offences ban it.

Loopback addresses are never banned as a whole: a local testnet runs every
node on one of them.
"""

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

BAN_THRESHOLD = -100
BAN_SECONDS = 600.0
HALF_LIFE_SECONDS = 60.0  # a score halves every minute: a grave offence is forgotten in ~7
FORGOTTEN = 0.5  # a score this close to 0 is 0: the book forgets the peer
BANS_PER_ADDRESS = 3  # peer ids banned from one address within BAN_SECONDS before the address is


class Offence(StrEnum):
    """What a peer did, as the node blames it (its points are in `WEIGHTS`)."""

    GARBAGE = "garbage"  # undecodable or oversized bytes, a malformed request: no honest node sends them
    INVALID = "invalid"  # an invalid block, extrinsic, vote or signature; a blob not matching its hash
    INVALID_SYNC_RESPONSE = "invalid sync response"  # a sync answer outside the protocol's shape or limits
    ORPHAN = "orphan"  # a block near our head on an unknown parent, sealed by no validator we know
    SPAM = "spam"  # unwanted by our state: far-future or unpayable transactions, unknown voters' votes
    SLOW = "slow"  # a request it accepted and then let time out


WEIGHTS: dict[Offence, int] = {
    Offence.GARBAGE: 100,  # one bans
    Offence.INVALID: 60,  # two within half a minute ban
    Offence.INVALID_SYNC_RESPONSE: 60,
    Offence.ORPHAN: 30,  # four in a row ban; an honest peer ahead of an era change may rarely send one
    Offence.SPAM: 5,  # grades only (its floor): a stream of it reaches half the threshold
    Offence.SLOW: 10,
}
# The lowest score an offence can bring a peer to by itself: these grade
# peers (who is dropped first beyond the peer limit) but never ban them.
FLOORS: dict[Offence, float] = {Offence.SLOW: BAN_THRESHOLD / 2, Offence.SPAM: BAN_THRESHOLD / 2}


@dataclass
class Standing:
    score: float
    at: float


def decayed(score: float, seconds: float) -> float:
    """`score` after `seconds` of good behaviour: halved every HALF_LIFE_SECONDS."""
    value = score * math.pow(2.0, -max(seconds, 0.0) / HALF_LIFE_SECONDS)
    return 0.0 if abs(value) < FORGOTTEN else value


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
        return min(0.0, decayed(found.score, self.clock() - found.at))

    def punish(self, peer: str, offence: Offence, address: str | None = None) -> bool:
        """Lower the peer's score by the offence's points; True when this
        crossed the threshold and banned it (its address too, when that was
        the last straw)."""
        now = self.clock()
        banned = self.is_banned(peer)  # a ban that ended is lifted first: the peer starts afresh
        before = self.score(peer)
        score = before - WEIGHTS[offence]
        floor = FLOORS.get(offence)
        if floor is not None:
            score = max(score, min(before, floor))  # never below the floor, never raised either
        self.standing[peer] = Standing(score, now)
        if score > BAN_THRESHOLD or banned:
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
