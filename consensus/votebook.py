"""The vote book: collects finality votes, tracks justified blocks, and
reports finality and slashable vote pairs.

It knows nothing of storage; the node tells it, per block hash, the active
stakes as of that block (`stakes_at`) and whether one block descends from
another (`descends`). Votes about blocks this node has not seen yet wait in a
bounded pending list and are retried after each import.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from consensus.finality import Checkpoint, Justification, Vote, slashable, supermajority

MAX_PENDING = 4096
RECENT_PER_VOTER = 32
MAX_VERIFIED = 65_536


class Verdict(Enum):
    COUNTED = "counted"
    DUPLICATE = "duplicate"
    PENDING = "pending"
    INVALID = "invalid"


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
    ) -> None:
        self.chain_id = chain_id
        self.stakes_at = stakes_at
        self.descends = descends
        self.justified: dict[bytes, int] = {c.hash: c.number for c in justified}
        self.links: dict[tuple[Checkpoint, Checkpoint], dict[bytes, Vote]] = {}
        self.recent: dict[bytes, list[Vote]] = {}
        self.pending: list[Vote] = []
        self.verified: set[Vote] = set()
        self.reported: set[tuple[bytes, bytes]] = set()
        self.highest_link: tuple[Checkpoint, Checkpoint] | None = None

    def is_justified(self, checkpoint: Checkpoint) -> bool:
        return self.justified.get(checkpoint.hash) == checkpoint.number

    def mark_justified(self, checkpoint: Checkpoint) -> None:
        self.justified[checkpoint.hash] = checkpoint.number

    def add(self, vote: Vote) -> Outcome:
        outcome = self._add(vote)
        if outcome.justified:
            outcome.merge(self.retry_pending())
        return outcome

    def retry_pending(self) -> Outcome:
        total = Outcome(Verdict.COUNTED)
        progress = True
        while progress and self.pending:
            waiting, self.pending = self.pending, []
            progress = False
            for vote in waiting:
                outcome = self._add(vote)
                progress = progress or bool(outcome.justified)
                total.merge(outcome)
        return total

    def _add(self, vote: Vote) -> Outcome:
        link = (vote.source, vote.target)
        if vote.voter in self.links.get(link, {}):
            return Outcome(Verdict.DUPLICATE)
        stakes = self.stakes_at(vote.source.hash)
        if stakes is None:
            return self._wait(vote)
        if vote.voter not in stakes:
            return Outcome(Verdict.INVALID)
        if vote not in self.verified:
            if not vote.verify(self.chain_id):
                return Outcome(Verdict.INVALID)
            if len(self.verified) >= MAX_VERIFIED:  # finality stalled for long: start over
                self.verified.clear()
            self.verified.add(vote)
        outcome = Outcome(Verdict.COUNTED, evidence=self._check_conduct(vote))
        if not self.is_justified(vote.source):
            outcome.verdict = self._wait(vote).verdict
            return outcome
        related = self.descends(vote.source, vote.target)
        if related is None:
            outcome.verdict = self._wait(vote).verdict
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

    def _wait(self, vote: Vote) -> Outcome:
        if vote not in self.pending:
            self.pending.append(vote)
            del self.pending[:-MAX_PENDING]
        return Outcome(Verdict.PENDING)

    def prune_below(self, number: int) -> None:
        """Forget links and justified marks below the finalized height."""
        self.links = {k: v for k, v in self.links.items() if k[1].number >= number or k == self.highest_link}
        self.justified = {h: n for h, n in self.justified.items() if n >= number}
        self.pending = [v for v in self.pending if v.target.number >= number]
        self.verified = {v for v in self.verified if v.target.number >= number}
