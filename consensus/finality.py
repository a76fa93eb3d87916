"""Finality votes in the Casper FFG spirit, with every block a checkpoint.

A vote is a signed link `source -> target`: the source is the highest block
the voter knows to be justified, the target its best block. Genesis is
justified; a target is justified by links from a justified source carrying
more than 2/3 of the active stake (as of the source's state); a justified
source whose link goes to its direct child (`target.number == source.number
+ 1`) is final, and so are its ancestors. The votes of that link are the
block's justification.

Two votes by one validator are slashable if they share a target height
(double vote) or one's link surrounds the other's; an honest validator never
casts such a pair, and two conflicting finalized blocks need more than 1/3 of
the stake to have done so. Both rules are checked from the two signed votes
alone, so the runtime can judge the evidence without the block tree.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runtime.codec import CodecError, decode, encode
from runtime.crypto import Keypair, verify
from runtime.types import vote_payload, votes_conflict

MAX_JUSTIFICATION_BYTES = 256 * 1024


@dataclass(frozen=True, order=True)
class Checkpoint:
    number: int
    hash: bytes

    def as_pair(self) -> tuple[int, bytes]:
        return (self.number, self.hash)


@dataclass(frozen=True)
class Vote:
    source: Checkpoint
    target: Checkpoint
    voter: bytes
    signature: bytes

    @classmethod
    def sign(cls, key: Keypair, chain_id: bytes, source: Checkpoint, target: Checkpoint) -> "Vote":
        signature = key.sign(vote_payload(chain_id, source.as_pair(), target.as_pair()))
        return cls(source, target, key.public, signature)

    def verify(self, chain_id: bytes) -> bool:
        payload = vote_payload(chain_id, self.source.as_pair(), self.target.as_pair())
        return verify(self.voter, payload, self.signature)

    def to_wire(self) -> list[Any]:
        s, t = self.source, self.target
        return [s.number, s.hash, t.number, t.hash, self.voter, self.signature]

    @classmethod
    def from_wire(cls, wire: Any) -> "Vote":
        if not (type(wire) is list and len(wire) == 6):
            raise CodecError("a vote is a 6-item list")
        s_num, s_hash, t_num, t_hash, voter, signature = wire
        for number in (s_num, t_num):
            if type(number) is not int or not 0 <= number < 2**63:
                raise CodecError("bad vote height")
        for value, size in ((s_hash, 32), (t_hash, 32), (voter, 32), (signature, 64)):
            if type(value) is not bytes or len(value) != size:
                raise CodecError("bad vote field")
        if t_num <= s_num:
            raise CodecError("a vote's target must be above its source")
        return cls(Checkpoint(s_num, s_hash), Checkpoint(t_num, t_hash), voter, signature)


def slashable(a: Vote, b: Vote) -> str | None:
    """Why two votes by one validator are an offence, or None."""
    if a.voter != b.voter:
        return None
    same_link = a.source == b.source and a.target == b.target
    return votes_conflict((a.source.number, a.target.number), (b.source.number, b.target.number), same_link)


@dataclass(frozen=True)
class Justification:
    """The votes of a supermajority link from a block to its direct child."""

    source: Checkpoint
    target: Checkpoint
    votes: tuple[Vote, ...]

    def encode(self) -> bytes:
        return encode([self.source.number, self.source.hash, self.target.number, self.target.hash,
                       [v.to_wire() for v in self.votes]])  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> "Justification":
        wire = decode(data, max_len=MAX_JUSTIFICATION_BYTES)
        if not (type(wire) is list and len(wire) == 5 and type(wire[4]) is list):
            raise CodecError("a justification is [source, target, votes]")
        votes = tuple(Vote.from_wire(v) for v in wire[4])
        link = Vote.from_wire([*wire[:4], bytes(32), bytes(64)])
        return cls(link.source, link.target, votes)


def supermajority(voted_stake: int, total_stake: int) -> bool:
    """More than two thirds, in integers."""
    return total_stake > 0 and 3 * voted_stake > 2 * total_stake


def verify_justification(just: Justification, chain_id: bytes, stakes: Mapping[bytes, int]) -> bool:
    """Do distinct validators with > 2/3 of `stakes` sign this very link, and
    is it a finalizing link (to the source's direct child)?"""
    if just.target.number != just.source.number + 1:
        return False
    voted: set[bytes] = set()
    for vote in just.votes:
        if vote.source != just.source or vote.target != just.target:
            return False
        if vote.voter not in stakes or vote.voter in voted or not vote.verify(chain_id):
            return False
        voted.add(vote.voter)
    return supermajority(sum(stakes[v] for v in voted), sum(stakes.values()))
