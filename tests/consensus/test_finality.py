import pytest

from consensus.finality import Justification, Vote, VoteCollector, supermajority, verify_justification
from consensus.fork_choice import choose_head
from runtime.codec import CodecError
from runtime.types import Header
from tests.chain import ALICE, BOB, CHARLIE, DAVE

CHAIN = b"\x01" * 32
H1, H2 = b"\xaa" * 32, b"\xbb" * 32
STAKES = {k.public: 100 for k in (ALICE, BOB, CHARLIE, DAVE)}


def test_supermajority_is_strictly_more_than_two_thirds() -> None:
    assert not supermajority(200, 300)
    assert supermajority(201, 300)
    assert not supermajority(0, 0)


def test_three_of_four_equal_validators_finalize() -> None:
    collector = VoteCollector(CHAIN, STAKES)
    assert collector.add(Vote.sign(ALICE, CHAIN, 1, 5, H1)) == (None, None)
    assert collector.add(Vote.sign(BOB, CHAIN, 1, 5, H1)) == (None, None)
    just, evidence = collector.add(Vote.sign(CHARLIE, CHAIN, 1, 5, H1))
    assert evidence is None and just is not None
    assert verify_justification(just, CHAIN, STAKES)
    assert Justification.decode(just.encode()) == just


def test_justification_checks_are_strict() -> None:
    votes = tuple(Vote.sign(k, CHAIN, 1, 5, H1) for k in (ALICE, BOB, CHARLIE))
    assert verify_justification(Justification(5, H1, votes), CHAIN, STAKES)
    assert not verify_justification(Justification(5, H1, votes[:2]), CHAIN, STAKES)
    assert not verify_justification(Justification(5, H1, (votes[0], votes[0], votes[1])), CHAIN, STAKES)
    assert not verify_justification(Justification(5, H2, votes), CHAIN, STAKES)
    assert not verify_justification(Justification(5, H1, votes), b"\x02" * 32, STAKES)
    outsider = {k: v for k, v in STAKES.items() if k != ALICE.public}
    assert not verify_justification(Justification(5, H1, votes), CHAIN, outsider)


def test_conflicting_votes_are_evidence_and_forged_votes_ignored() -> None:
    collector = VoteCollector(CHAIN, STAKES)
    first = Vote.sign(ALICE, CHAIN, 1, 5, H1)
    collector.add(first)
    second = Vote.sign(ALICE, CHAIN, 1, 5, H2)
    assert collector.add(second) == (None, (first, second))
    forged = Vote(1, 5, H1, BOB.public, bytes(64))
    assert collector.add(forged) == (None, None)


def test_vote_wire_is_validated() -> None:
    with pytest.raises(CodecError):
        Vote.from_wire([1, 2, b"x", b"y", b"z"])
    with pytest.raises(CodecError):
        Justification.decode(b"\xc1")


def test_fork_choice_takes_the_longest_chain_with_the_finalized_block() -> None:
    def header(number: int, tag: bytes) -> Header:
        return Header(tag * 32, number, b"\x00" * 32, b"\x00" * 32, number, b"\x00" * 32)

    a, b, c = header(10, b"\x01"), header(12, b"\x02"), header(12, b"\x03")
    assert choose_head([a, b, c], lambda h: True) == min((b, c), key=lambda h: h.hash)
    assert choose_head([a, b, c], lambda h: h is a) == a
    assert choose_head([], lambda h: True) is None
