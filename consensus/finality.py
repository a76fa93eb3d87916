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
alone, so the runtime can judge the evidence without the block tree. A vote's
wire form and signature live in `runtime.types.Vote`, shared with the
slashing pallet, which judges that evidence.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from runtime.codec import CodecError, decode, encode
from runtime.types import Checkpoint as Checkpoint
from runtime.types import Vote as Vote
from runtime.types import slashable as slashable

MAX_JUSTIFICATION_BYTES = 256 * 1024


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
