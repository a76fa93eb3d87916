"""Finality votes in the GRANDPA / Tendermint spirit: validators sign
precommits for a block; a block with precommits from validators holding
more than 2/3 of the active stake is final, and those votes are its
justification. Two different precommits by one validator in one round are
equivocation evidence.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.codec import CodecError, decode, encode
from runtime.crypto import Keypair, verify


@dataclass(frozen=True)
class Vote:
    round: int
    number: int
    block_hash: bytes
    voter: bytes
    signature: bytes

    @staticmethod
    def payload(chain_id: bytes, round_: int, number: int, block_hash: bytes) -> bytes:
        return encode([b"vcoin-precommit", chain_id, round_, number, block_hash])

    @classmethod
    def sign(cls, key: Keypair, chain_id: bytes, round_: int, number: int, block_hash: bytes) -> "Vote":
        signature = key.sign(cls.payload(chain_id, round_, number, block_hash))
        return cls(round_, number, block_hash, key.public, signature)

    def verify(self, chain_id: bytes) -> bool:
        return verify(
            self.voter, self.payload(chain_id, self.round, self.number, self.block_hash), self.signature
        )

    def to_wire(self) -> list[Any]:
        return [self.round, self.number, self.block_hash, self.voter, self.signature]

    @classmethod
    def from_wire(cls, wire: Any) -> "Vote":
        if not (type(wire) is list and len(wire) == 5):
            raise CodecError("vote is a 5-item list")
        round_, number, block_hash, voter, signature = wire
        if type(round_) is not int or type(number) is not int or round_ < 0 or number < 0:
            raise CodecError("bad vote round or number")
        for value, size in ((block_hash, 32), (voter, 32), (signature, 64)):
            if type(value) is not bytes or len(value) != size:
                raise CodecError("bad vote field")
        return cls(round_, number, block_hash, voter, signature)


@dataclass(frozen=True)
class Justification:
    number: int
    block_hash: bytes
    votes: tuple[Vote, ...]

    def encode(self) -> bytes:
        return encode([self.number, self.block_hash, [v.to_wire() for v in self.votes]])

    @classmethod
    def decode(cls, data: bytes) -> "Justification":
        wire = decode(data, max_len=256 * 1024)
        if not (type(wire) is list and len(wire) == 3 and type(wire[2]) is list):
            raise CodecError("justification is [number, hash, votes]")
        return cls(wire[0], wire[1], tuple(Vote.from_wire(v) for v in wire[2]))


def supermajority(voted_stake: int, total_stake: int) -> bool:
    """More than two thirds, in integers."""
    return total_stake > 0 and 3 * voted_stake > 2 * total_stake


def verify_justification(just: Justification, chain_id: bytes, stakes: Mapping[bytes, int]) -> bool:
    """Do distinct validators with > 2/3 of `stakes` precommit this very block?"""
    voted: set[bytes] = set()
    for vote in just.votes:
        if vote.block_hash != just.block_hash or vote.number != just.number:
            return False
        if vote.voter not in stakes or vote.voter in voted or not vote.verify(chain_id):
            return False
        voted.add(vote.voter)
    return supermajority(sum(stakes[v] for v in voted), sum(stakes.values()))


@dataclass
class VoteCollector:
    """Collects precommits for one validator set; reports finality and equivocations."""

    chain_id: bytes
    stakes: Mapping[bytes, int]
    _by_voter: dict[tuple[int, bytes], Vote] = field(default_factory=dict)
    _by_block: dict[tuple[int, bytes], dict[bytes, Vote]] = field(default_factory=dict)

    def add(self, vote: Vote) -> tuple[Justification | None, tuple[Vote, Vote] | None]:
        """Returns (a justification if this vote completed one, equivocation evidence if any)."""
        if vote.voter not in self.stakes or not vote.verify(self.chain_id):
            return None, None
        earlier = self._by_voter.get((vote.round, vote.voter))
        if earlier is not None and earlier.block_hash != vote.block_hash:
            return None, (earlier, vote)
        self._by_voter[(vote.round, vote.voter)] = vote
        votes = self._by_block.setdefault((vote.number, vote.block_hash), {})
        votes[vote.voter] = vote
        if supermajority(sum(self.stakes[v] for v in votes), sum(self.stakes.values())):
            ordered = tuple(votes[v] for v in sorted(votes))
            return Justification(vote.number, vote.block_hash, ordered), None
        return None, None
