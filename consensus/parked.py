"""Verified finality votes waiting for a block this node has not seen (or
not yet seen justified).

They are indexed by the hash they wait for, so an import retries only the
votes that named the imported block, never the whole set. The set is bounded
overall, per relaying peer and per voter, and a vote that waited longer than
`max_age` (in best-block heights) is forgotten: gossip rebroadcasts whatever
still matters.
"""

from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from consensus.finality import Vote

MAX_PARKED = 2_048
PER_ORIGIN = 512  # a quarter: four peers relaying junk still leave room
PER_VOTER = 64
MAX_AGE = 64


@dataclass(frozen=True)
class Parked:
    key: bytes  # the block hash the vote waits for
    origin: Hashable | None  # the peer that relayed it first (None: this node)
    born: int  # the best height when it was parked


class ParkedVotes:
    def __init__(
        self,
        limit: int = MAX_PARKED,
        per_origin: int = PER_ORIGIN,
        per_voter: int = PER_VOTER,
        max_age: int = MAX_AGE,
    ) -> None:
        self.limit, self.per_origin, self.per_voter, self.max_age = limit, per_origin, per_voter, max_age
        self.entries: OrderedDict[Vote, Parked] = OrderedDict()  # oldest first
        self.by_key: dict[bytes, dict[Vote, None]] = {}
        self.by_voter: dict[bytes, dict[Vote, None]] = {}
        self.origins: Counter[Hashable] = Counter()

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, vote: object) -> bool:
        return vote in self.entries

    def waited_for(self) -> list[bytes]:
        return list(self.by_key)

    def park(self, vote: Vote, key: bytes, origin: Hashable | None, now: int) -> bool:
        """Keep a verified vote until `key` turns up; False if it was refused."""
        if vote in self.entries:
            self._remove(vote)
        self.expire(now)
        if origin is not None and self.origins[origin] >= self.per_origin:
            return False  # one peer cannot take everyone's room
        mine = self.by_voter.get(vote.voter)
        if mine is not None and len(mine) >= self.per_voter:
            self._remove(next(iter(mine)))  # a validator's newer votes supersede its older ones
        if len(self.entries) >= self.limit:
            self._remove(next(iter(self.entries)))
        self.entries[vote] = Parked(key, origin, now)
        self.by_key.setdefault(key, {})[vote] = None
        self.by_voter.setdefault(vote.voter, {})[vote] = None
        if origin is not None:
            self.origins[origin] += 1
        return True

    def take(self, key: bytes) -> list[tuple[Vote, Hashable | None]]:
        """Remove and return the votes waiting for `key`, oldest first."""
        waiting = self.by_key.get(key)
        if not waiting:
            return []
        taken = [(vote, self.entries[vote].origin) for vote in waiting]
        for vote, _ in taken:
            self._remove(vote)
        return taken

    def expire(self, now: int) -> None:
        while self.entries:
            vote, parked = next(iter(self.entries.items()))
            if now - parked.born <= self.max_age:
                return
            self._remove(vote)

    def drop_where(self, doomed: Callable[[Vote], bool]) -> None:
        for vote in [v for v in self.entries if doomed(v)]:
            self._remove(vote)

    def _remove(self, vote: Vote) -> None:
        parked = self.entries.pop(vote)
        waiting = self.by_key[parked.key]
        del waiting[vote]
        if not waiting:
            del self.by_key[parked.key]
        mine = self.by_voter[vote.voter]
        del mine[vote]
        if not mine:
            del self.by_voter[vote.voter]
        if parked.origin is not None:
            self.origins[parked.origin] -= 1
            if self.origins[parked.origin] <= 0:
                del self.origins[parked.origin]
