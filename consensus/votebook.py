"""The vote book: collects finality votes, tracks justified blocks, and
reports finality and slashable vote pairs.

It knows nothing of storage; the node tells it, per block hash, the active
stakes as of that block (`stakes_at`), whether one block descends from
another (`descends`), its best height and the validators it knows of (current
and next set). A vote about a block this node has not seen is parked only
once it is known to be worth keeping: its voter is a known validator (a set
lookup, before anything costly), its signature checks, and its target is not
absurdly far ahead of our best.
Parked votes wait, indexed by the hash they need (see `consensus.parked`),
and are retried when that block arrives or is justified.
"""

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from consensus.finality import Checkpoint, Justification, Vote, slashable, supermajority
from consensus.parked import ParkedVotes

RECENT_PER_VOTER = 32
MAX_VERIFIED = 65_536
# Votes may name blocks a little ahead of ours (we may lag a few blocks), not
# thousands: those would wait, unverifiable, for blocks that never come.
MAX_TARGET_AHEAD = 256


class Verdict(Enum):
    COUNTED = "counted"  # verified and counted
    DUPLICATE = "duplicate"  # this very vote is already counted or parked
    PENDING = "pending"  # verified, parked until the block it names arrives
    INVALID = "invalid"  # provably wrong: the relaying peer is to blame
    IGNORED = "ignored"  # not useful now (too far ahead, no room): nobody to blame
    SPAM = "spam"  # unverifiable junk (an unknown voter about an unknown block)


@dataclass
class Outcome:
    verdict: Verdict
    justified: list[Checkpoint] = field(default_factory=list)
    finalized: list[Justification] = field(default_factory=list)
    evidence: list[tuple[Vote, Vote]] = field(default_factory=list)

    def merge(self, other: "Outcome") -> None:
        self.justified += other.justified
        self.finalized += other.finalized
        self.evidence += other.evidence


class VoteBook:
    def __init__(
        self,
        chain_id: bytes,
        stakes_at: Callable[[bytes], Mapping[bytes, int] | None],
        descends: Callable[[Checkpoint, Checkpoint], bool | None],
        justified: list[Checkpoint],
        best_number: Callable[[], int] | None = None,
        known_voters: Callable[[], Collection[bytes]] | None = None,
        parked: ParkedVotes | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.stakes_at = stakes_at
        self.descends = descends
        self.best_number = best_number
        self.known_voters = known_voters
        self.justified: dict[bytes, int] = {c.hash: c.number for c in justified}
        self.links: dict[tuple[Checkpoint, Checkpoint], dict[bytes, Vote]] = {}
        self.recent: dict[bytes, list[Vote]] = {}
        self.parked = parked if parked is not None else ParkedVotes()
        self.woken: set[bytes] = set()  # justified since the last retry: their waiters may count
        self.verified: set[Vote] = set()
        self.reported: set[tuple[bytes, bytes]] = set()
        self.highest_link: tuple[Checkpoint, Checkpoint] | None = None

    def is_justified(self, checkpoint: Checkpoint) -> bool:
        return self.justified.get(checkpoint.hash) == checkpoint.number

    def mark_justified(self, checkpoint: Checkpoint) -> None:
        self.justified[checkpoint.hash] = checkpoint.number
        self.woken.add(checkpoint.hash)

    @property
    def pending(self) -> list[Vote]:
        return list(self.parked.entries)

    def add(self, vote: Vote, origin: Hashable | None = None) -> Outcome:
        """Take a vote from `origin` (a peer; None for this node's own)."""
        outcome = self._add(vote, origin)
        if outcome.justified:
            outcome.merge(self.retry(()))
        return outcome

    def retry(self, arrived: Iterable[bytes]) -> Outcome:
        """Retry the votes waiting for blocks that just `arrived`, and for
        blocks justified since the last retry (which may justify more)."""
        total = Outcome(Verdict.COUNTED)
        if self.best_number is not None:
            self.parked.expire(self.best_number())
        work = [*arrived, *self.woken]
        self.woken.clear()
        while work:
            for vote, origin in self.parked.take(work.pop()):
                total.merge(self._add(vote, origin))
            work.extend(self.woken)
            self.woken.clear()
        return total

    def retry_pending(self) -> Outcome:
        """Retry every parked vote (after a gap in what the node told us)."""
        return self.retry(self.parked.waited_for())

    def _add(self, vote: Vote, origin: Hashable | None = None) -> Outcome:
        link = (vote.source, vote.target)
        if self.links.get(link, {}).get(vote.voter) == vote or vote in self.parked:
            return Outcome(Verdict.DUPLICATE)
        stakes = self.stakes_at(vote.source.hash)
        if stakes is None:
            if self.known_voters is not None and vote.voter not in self.known_voters():
                return Outcome(Verdict.SPAM)
        elif vote.voter not in stakes:
            return Outcome(Verdict.INVALID)
        if not self._verify(vote):
            return Outcome(Verdict.INVALID)
        if self.best_number is not None and vote.target.number > self.best_number() + MAX_TARGET_AHEAD:
            return Outcome(Verdict.IGNORED)  # honest, perhaps, if we lag: but no use to us now
        if stakes is None:
            return self._wait(vote, vote.source.hash, origin)
        if vote.voter in self.links.get(link, {}):
            return Outcome(Verdict.DUPLICATE)  # another valid signature of a counted vote
        outcome = Outcome(Verdict.COUNTED, evidence=self._check_conduct(vote))
        if not self.is_justified(vote.source):
            outcome.verdict = self._wait(vote, vote.source.hash, origin).verdict
            return outcome
        related = self.descends(vote.source, vote.target)
        if related is None:
            outcome.verdict = self._wait(vote, vote.target.hash, origin).verdict
            return outcome
        if not related:
            outcome.verdict = Verdict.INVALID
            return outcome
        voters = self.links.setdefault(link, {})
        voters[vote.voter] = vote
        voted = sum(stakes[v] for v in voters)
        if supermajority(voted, sum(stakes.values())):
            if not self.is_justified(vote.target):
                self.mark_justified(vote.target)
                outcome.justified.append(vote.target)
            if self.highest_link is None or vote.target.number >= self.highest_link[1].number:
                self.highest_link = link
            if vote.target.number == vote.source.number + 1:
                ordered = tuple(voters[v] for v in sorted(voters))
                outcome.finalized.append(Justification(vote.source, vote.target, ordered))
        return outcome

    def highest_proof(self) -> list[Vote]:
        """The votes that justified the highest justified block seen: peers
        that missed them can then vote from the same source."""
        if self.highest_link is None:
            return []
        return list(self.links.get(self.highest_link, {}).values())

    def _check_conduct(self, vote: Vote) -> list[tuple[Vote, Vote]]:
        history = self.recent.setdefault(vote.voter, [])
        found: list[tuple[Vote, Vote]] = []
        for earlier in history:
            if (
                slashable(earlier, vote)
                and (vote.voter, earlier.target.hash + vote.target.hash) not in self.reported
            ):
                self.reported.add((vote.voter, earlier.target.hash + vote.target.hash))
                found.append((earlier, vote))
        if vote not in history:
            history.append(vote)
            del history[:-RECENT_PER_VOTER]
        return found

    def _verify(self, vote: Vote) -> bool:
        if vote in self.verified:
            return True
        if not vote.verify(self.chain_id):
            return False
        if len(self.verified) >= MAX_VERIFIED:  # finality stalled for long: start over
            self.verified.clear()
        self.verified.add(vote)
        return True

    def _wait(self, vote: Vote, key: bytes, origin: Hashable | None) -> Outcome:
        """Park a verified vote until the block `key` arrives or is justified."""
        now = 0 if self.best_number is None else self.best_number()
        parked = self.parked.park(vote, key, origin, now)
        return Outcome(Verdict.PENDING if parked else Verdict.IGNORED)

    def prune_below(self, number: int) -> None:
        """Forget links and justified marks below the finalized height."""
        self.links = {k: v for k, v in self.links.items() if k[1].number >= number or k == self.highest_link}
        self.justified = {h: n for h, n in self.justified.items() if n >= number}
        self.parked.drop_where(lambda v: v.target.number < number)
        self.verified = {v for v in self.verified if v.target.number >= number}
