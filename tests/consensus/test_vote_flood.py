"""Issue 11, finding 3: junk finality votes naming blocks nobody has. They
must be checked (known voter, signature) before they are parked, the parked
set must stay bounded and indexed by the block it waits for, and nothing
unverified may come out of the book as worth relaying."""

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.finality import Checkpoint, Vote
from consensus.parked import ParkedVotes
from consensus.votebook import MAX_TARGET_AHEAD, Verdict, VoteBook
from runtime.crypto import Keypair
from tests.chain import ALICE, BOB, CHARLIE, DAVE

CHAIN = b"\x01" * 32
VALIDATORS = (ALICE, BOB, CHARLIE, DAVE)
STAKES = {k.public: 100 for k in VALIDATORS}
STRANGERS = [Keypair(bytes([i]) * 32) for i in range(1, 4)]


def cp(number: int, tag: int = 0) -> Checkpoint:
    return Checkpoint(number, bytes([number % 256, tag]) * 16)


class World:
    """A chain 0..best (tag 0) this node has; anything else it lacks."""

    def __init__(self, best: int = 20) -> None:
        self.best = best
        self.lookups = 0

    def known(self, c: Checkpoint) -> bool:
        return c.hash[1] == 0 and c.number <= self.best and c == cp(c.number)

    def stakes_at(self, block_hash: bytes) -> dict[bytes, int] | None:
        self.lookups += 1
        number, tag = block_hash[0], block_hash[1]
        return STAKES if tag == 0 and number <= self.best and block_hash == cp(number).hash else None

    def descends(self, a: Checkpoint, b: Checkpoint) -> bool | None:
        if not self.known(b):
            return None
        return a.number < b.number

    def book(self, parked: ParkedVotes | None = None) -> VoteBook:
        return VoteBook(CHAIN, self.stakes_at, self.descends, [cp(0)], best_number=lambda: self.best,
                        known_voters=lambda: frozenset(STAKES), parked=parked)  # fmt: skip


def test_a_forged_vote_about_an_unknown_block_is_invalid_not_parked() -> None:
    book = World().book()
    forged = Vote(cp(30, tag=7), cp(31, tag=7), BOB.public, os.urandom(64))
    assert book.add(forged).verdict is Verdict.INVALID
    assert not book.pending


def test_a_stranger_vote_about_an_unknown_block_is_never_verified_nor_parked() -> None:
    book = World().book()
    junk = Vote.sign(STRANGERS[0], CHAIN, cp(30, tag=7), cp(31, tag=7))
    assert book.add(junk).verdict is Verdict.SPAM
    assert not book.pending and junk not in book.verified


def test_absurd_targets_are_refused_and_honest_waiting_votes_count_later() -> None:
    world = World()
    book = world.book()
    far = Vote.sign(ALICE, CHAIN, cp(0), cp(world.best + MAX_TARGET_AHEAD + 1, tag=3))
    assert book.add(far).verdict is Verdict.IGNORED and not book.pending
    early = [book.add(Vote.sign(k, CHAIN, cp(0), cp(21))) for k in (ALICE, BOB, CHARLIE)]
    assert all(o.verdict is Verdict.PENDING for o in early)
    world.best = 21
    outcome = book.retry([cp(21).hash])
    assert outcome.justified == [cp(21)] and not book.pending


def test_an_import_retries_only_the_votes_waiting_for_that_block() -> None:
    world = World()
    book = world.book()
    for i in range(200):  # a validator's honest-looking votes about many unknown blocks
        key = VALIDATORS[i % 4]
        book.add(Vote.sign(key, CHAIN, cp(0), cp(21 + i % 50, tag=1 + i // 50)))
    assert len(book.pending) == 200
    world.lookups = 0
    book.retry([cp(23, tag=2).hash])
    assert world.lookups <= 8  # the votes that named this block, not all 200


def test_parked_votes_age_out() -> None:
    world = World()
    book = world.book(ParkedVotes(max_age=5))
    book.add(Vote.sign(ALICE, CHAIN, cp(0), cp(22, tag=1)))
    assert book.pending
    world.best += 6
    book.retry([])
    assert not book.pending


def test_parked_votes_are_bounded_per_peer() -> None:
    book = World().book(ParkedVotes(limit=100, per_origin=10))
    for i in range(30):
        book.add(Vote.sign(VALIDATORS[i % 4], CHAIN, cp(0), cp(21 + i, tag=1)), origin="mallory")
    assert len(book.pending) == 10
    assert book.add(Vote.sign(ALICE, CHAIN, cp(0), cp(60, tag=1)), origin="honest").verdict is Verdict.PENDING


kinds = st.sampled_from(["forged", "stranger", "unknown-source", "far", "valid", "replay"])


@settings(max_examples=40)
@given(st.lists(st.tuples(kinds, st.integers(0, 3), st.integers(1, 40), st.integers(0, 4)), max_size=120))
def test_a_random_vote_flood_keeps_the_book_bounded_and_verified(
    flood: list[tuple[str, int, int, int]],
) -> None:
    world = World()
    parked = ParkedVotes(limit=24, per_origin=8, per_voter=6, max_age=10)
    book = world.book(parked)
    sent: list[Vote] = []
    for kind, who, height, origin in flood:
        key = VALIDATORS[who]
        if kind == "forged":
            vote = Vote(cp(height, tag=5), cp(height + 1, tag=5), key.public, os.urandom(64))
        elif kind == "stranger":
            vote = Vote.sign(STRANGERS[who % 3], CHAIN, cp(height, tag=5), cp(height + 1, tag=5))
        elif kind == "unknown-source":
            vote = Vote.sign(key, CHAIN, cp(height, tag=5), cp(height + 1, tag=5))
        elif kind == "far":
            vote = Vote.sign(key, CHAIN, cp(0), cp(world.best + MAX_TARGET_AHEAD + height))
        elif kind == "replay" and sent:
            vote = sent[height % len(sent)]
            vote = Vote(vote.source, vote.target, vote.voter, os.urandom(64))
        else:
            vote = Vote.sign(key, CHAIN, cp(0), cp(min(height, world.best)))
        outcome = book.add(vote, origin=f"peer{origin}")
        sent.append(vote)
        if outcome.verdict in (Verdict.COUNTED, Verdict.PENDING):  # what the node would relay
            assert vote.voter in STAKES and vote.verify(CHAIN)
        assert len(parked) <= parked.limit
        assert all(n <= parked.per_origin for n in parked.origins.values())
        assert all(v.voter in STAKES and v.verify(CHAIN) for v in book.pending)
        if height % 7 == 0:
            world.best += 1
            book.retry([cp(world.best).hash])
