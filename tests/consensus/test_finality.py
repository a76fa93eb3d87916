import pytest
from hypothesis import given
from hypothesis import strategies as st

from consensus.finality import Checkpoint, Justification, Vote, slashable, supermajority, verify_justification
from consensus.fork_choice import choose_head
from consensus.votebook import Verdict, VoteBook
from runtime.codec import CodecError
from runtime.types import Header
from tests.chain import ALICE, BOB, CHARLIE, DAVE

CHAIN = b"\x01" * 32
STAKES = {k.public: 100 for k in (ALICE, BOB, CHARLIE, DAVE)}


def cp(number: int, tag: int = 0) -> Checkpoint:
    return Checkpoint(number, bytes([number % 256, tag]) * 16)


# A linear chain 0..50 ("tag 0") and a fork from 3 ("tag 1").
def _descends(a: Checkpoint, b: Checkpoint) -> bool | None:
    if b.number > 50:
        return None
    a_tag, b_tag = a.hash[1], b.hash[1]
    return a.number < b.number and (a_tag == b_tag or (a_tag == 0 and a.number <= 3))


def book() -> VoteBook:
    return VoteBook(CHAIN, lambda h: STAKES, _descends, [cp(0)])


def test_supermajority_is_strictly_more_than_two_thirds() -> None:
    assert not supermajority(200, 300)
    assert supermajority(201, 300)
    assert not supermajority(0, 0)


def test_three_of_four_justify_and_finalize_the_source() -> None:
    votes = book()
    assert votes.add(Vote.sign(ALICE, CHAIN, cp(0), cp(1))).verdict is Verdict.COUNTED
    assert not votes.add(Vote.sign(BOB, CHAIN, cp(0), cp(1))).justified
    outcome = votes.add(Vote.sign(CHARLIE, CHAIN, cp(0), cp(1)))
    assert outcome.justified == [cp(1)]
    (just,) = outcome.finalized
    assert just.source == cp(0) and len(just.votes) == 3
    assert verify_justification(just, CHAIN, STAKES)
    assert Justification.decode(just.encode()) == just


def test_a_skipping_link_justifies_without_finalizing() -> None:
    votes = book()
    outcome = [votes.add(Vote.sign(k, CHAIN, cp(0), cp(3))) for k in (ALICE, BOB, CHARLIE)][-1]
    assert outcome.justified == [cp(3)] and not outcome.finalized
    outcome = [votes.add(Vote.sign(k, CHAIN, cp(3), cp(4))) for k in (ALICE, BOB, CHARLIE)][-1]
    assert [j.source for j in outcome.finalized] == [cp(3)]


def test_votes_from_an_unjustified_source_wait_then_count() -> None:
    votes = book()
    early = [votes.add(Vote.sign(k, CHAIN, cp(1), cp(2))) for k in (ALICE, BOB, CHARLIE)]
    assert all(o.verdict is Verdict.PENDING for o in early)
    for key in (ALICE, BOB, DAVE):
        outcome = votes.add(Vote.sign(key, CHAIN, cp(0), cp(1)))
    assert cp(2) in outcome.justified and [j.source for j in outcome.finalized] == [cp(0), cp(1)]


def test_unknown_target_waits_and_retries_after_import() -> None:
    votes = book()
    assert votes.add(Vote.sign(ALICE, CHAIN, cp(0), cp(51))).verdict is Verdict.PENDING
    assert votes.pending


def test_forged_outsider_and_unrelated_votes_are_invalid() -> None:
    votes = book()
    forged = Vote(cp(0), cp(1), BOB.public, bytes(64))
    assert votes.add(forged).verdict is Verdict.INVALID
    from runtime.crypto import dev_keypair

    outsider = dev_keypair("//mallory")
    assert votes.add(Vote.sign(outsider, CHAIN, cp(0), cp(1))).verdict is Verdict.INVALID
    assert votes.add(Vote.sign(ALICE, b"\x02" * 32, cp(0), cp(1))).verdict is Verdict.INVALID
    assert votes.add(Vote.sign(ALICE, CHAIN, cp(5), cp(6, tag=1))).verdict in (
        Verdict.INVALID,
        Verdict.PENDING,
    )


def test_double_and_surround_votes_are_evidence() -> None:
    votes = book()
    first = Vote.sign(ALICE, CHAIN, cp(0), cp(4))
    votes.add(first)
    double = Vote.sign(ALICE, CHAIN, cp(0), cp(4, tag=1))
    assert votes.add(double).evidence == [(first, double)]
    inner = Vote.sign(BOB, CHAIN, cp(2), cp(3))
    outer = Vote.sign(BOB, CHAIN, cp(1), cp(5))
    votes.add(inner)
    assert votes.add(outer).evidence == [(inner, outer)]
    assert votes.add(Vote.sign(CHARLIE, CHAIN, cp(0), cp(1))).evidence == []


@given(st.integers(0, 20), st.integers(1, 20), st.integers(0, 20), st.integers(1, 20))
def test_honest_rule_never_produces_a_slashable_pair(s1: int, d1: int, s2: int, d2: int) -> None:
    """Votes whose targets strictly increase and sources never decrease (the
    rule `FinalityGadget.vote_on_best` follows) are never slashable."""
    a = Vote.sign(ALICE, CHAIN, cp(s1), cp(s1 + d1))
    b = Vote.sign(ALICE, CHAIN, cp(s2), cp(s2 + d2))
    honest = (b.target.number > a.target.number and b.source.number >= a.source.number) or (
        a.target.number > b.target.number and a.source.number >= b.source.number
    )
    if honest:
        assert slashable(a, b) is None
    if a.target.number == b.target.number and a != b:
        assert slashable(a, b) == "double vote"


def test_justification_checks_are_strict() -> None:
    votes = tuple(Vote.sign(k, CHAIN, cp(4), cp(5)) for k in (ALICE, BOB, CHARLIE))
    assert verify_justification(Justification(cp(4), cp(5), votes), CHAIN, STAKES)
    assert not verify_justification(Justification(cp(4), cp(5), votes[:2]), CHAIN, STAKES)
    duplicated = (votes[0], votes[0], votes[1])
    assert not verify_justification(Justification(cp(4), cp(5), duplicated), CHAIN, STAKES)
    assert not verify_justification(Justification(cp(4), cp(5, tag=1), votes), CHAIN, STAKES)
    assert not verify_justification(Justification(cp(4), cp(5), votes), b"\x02" * 32, STAKES)
    skipping = tuple(Vote.sign(k, CHAIN, cp(4), cp(6)) for k in (ALICE, BOB, CHARLIE))
    assert not verify_justification(Justification(cp(4), cp(6), skipping), CHAIN, STAKES)
    outsider = {k: v for k, v in STAKES.items() if k != ALICE.public}
    assert not verify_justification(Justification(cp(4), cp(5), votes), CHAIN, outsider)


def test_vote_wire_is_validated() -> None:
    with pytest.raises(CodecError):
        Vote.from_wire([1, 2, b"x", b"y", b"z"])
    with pytest.raises(CodecError):
        Vote.from_wire([5, b"\x00" * 32, 5, b"\x00" * 32, b"\x00" * 32, b"\x00" * 64])
    with pytest.raises(CodecError):
        Justification.decode(b"\xc1")


def test_fork_choice_takes_the_longest_chain_with_the_finalized_block() -> None:
    def header(number: int, tag: bytes) -> Header:
        return Header(tag * 32, number, b"\x00" * 32, b"\x00" * 32, number, b"\x00" * 32)

    a, b, c = header(10, b"\x01"), header(12, b"\x02"), header(12, b"\x03")
    assert choose_head([a, b, c], lambda h: True) == min((b, c), key=lambda h: h.hash)
    assert choose_head([a, b, c], lambda h: h is a) == a
    assert choose_head([], lambda h: True) is None
