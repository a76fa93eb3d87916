"""Peer scores: offences with declared weights, a score that decays towards
0 (halving per HALF_LIFE_SECONDS), a ban threshold that one grave offence or
several invalid ones reach, slowness and spam (judged against our own state)
that grade but never ban, and bans by
peer id, and by address once several peer ids from it were banned (loopback
never)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.peer_book import (
    BAN_SECONDS,
    BAN_THRESHOLD,
    BANS_PER_ADDRESS,
    FLOORS,
    HALF_LIFE_SECONDS,
    WEIGHTS,
    Offence,
    PeerBook,
    decayed,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_every_offence_has_declared_points_graded_by_how_sure_the_blame_is() -> None:
    assert set(WEIGHTS) == set(Offence)
    assert all(points > 0 for points in WEIGHTS.values())
    grave, invalid = WEIGHTS[Offence.GARBAGE], WEIGHTS[Offence.INVALID]
    assert grave >= -BAN_THRESHOLD  # one bans
    assert invalid < -BAN_THRESHOLD <= 2 * invalid  # two ban
    assert WEIGHTS[Offence.SPAM] < WEIGHTS[Offence.ORPHAN] < invalid
    assert Offence("invalid sync response") is Offence.INVALID_SYNC_RESPONSE  # a StrEnum: logs read it


@pytest.mark.parametrize("offence", [Offence.GARBAGE])
def test_one_grave_offence_bans_at_once(offence: Offence) -> None:
    book = PeerBook(Clock())
    assert book.punish("p", offence) and book.is_banned("p")


@pytest.mark.parametrize("offence", [Offence.INVALID, Offence.INVALID_SYNC_RESPONSE])
def test_invalid_data_bans_on_the_second_offence(offence: Offence) -> None:
    clock = Clock()
    book = PeerBook(clock)
    assert not book.punish("p", offence) and book.score("p") == -WEIGHTS[offence]
    clock.now += 1.0
    assert book.punish("p", offence) and book.is_banned("p")


def test_the_score_halves_every_half_life_and_reaches_zero() -> None:
    clock = Clock()
    book = PeerBook(clock)
    book.punish("p", Offence.INVALID)
    clock.now += HALF_LIFE_SECONDS
    assert book.score("p") == pytest.approx(-WEIGHTS[Offence.INVALID] / 2)
    clock.now += HALF_LIFE_SECONDS
    assert book.score("p") == pytest.approx(-WEIGHTS[Offence.INVALID] / 4)
    clock.now += 10 * HALF_LIFE_SECONDS
    assert book.score("p") == 0
    book.prune()
    assert not book.standing  # forgotten
    assert (
        decayed(-80.0, 0.0) == -80.0 and decayed(-80.0, -5.0) == -80.0
    )  # a clock going back changes nothing


def test_two_invalid_items_far_apart_are_forgiven_two_close_together_are_not() -> None:
    clock = Clock()
    book = PeerBook(clock)
    assert not book.punish("p", Offence.INVALID)
    clock.now += 3 * HALF_LIFE_SECONDS  # -60 decayed to about -8
    assert not book.punish("p", Offence.INVALID) and not book.is_banned("p")


def test_several_orphans_reach_the_threshold() -> None:
    clock = Clock()
    book = PeerBook(clock)
    for _ in range(3):  # orphans near our head from a stranger, one a second
        assert not book.punish("orphans", Offence.ORPHAN)
        clock.now += 1.0
    assert book.punish("orphans", Offence.ORPHAN)


@pytest.mark.parametrize("offence", [Offence.SLOW, Offence.SPAM])
@pytest.mark.parametrize("interval", [0.01, 1.0, 10.0])
def test_slowness_and_spam_grade_a_peer_but_never_ban_it(offence: Offence, interval: float) -> None:
    """Spam is judged against our own state (a sender's balance and nonce, the
    voters and blocks we know): an honest peer on a newer chain sends exactly
    that, so however much of it comes, it never bans by itself."""
    clock = Clock()
    book = PeerBook(clock)
    floor = FLOORS[offence]
    assert BAN_THRESHOLD < floor < 0
    for _ in range(1_000):  # as fast as it can, or an honest peer's occasional one
        assert not book.punish("p", offence)
        clock.now += interval
    assert book.score("p") >= floor and not book.is_banned("p")
    assert book.score("p") < book.score("fast")  # it goes first when there are too many peers
    # below the floor already (worse offences), it adds nothing, nor softens them
    book.punish("liar", Offence.INVALID)
    book.punish("liar", Offence.ORPHAN)  # -90
    assert not book.punish("liar", offence) and book.score("liar") == pytest.approx(-90)
    assert book.punish("liar", Offence.INVALID)  # its own offences ban it


def test_a_spammer_that_also_sends_provable_garbage_is_banned_for_the_garbage() -> None:
    clock = Clock()
    book = PeerBook(clock)
    for _ in range(100):
        book.punish("p", Offence.SPAM)
        clock.now += 0.1
    assert not book.is_banned("p") and book.score("p") == pytest.approx(BAN_THRESHOLD / 2, abs=3)
    assert book.punish("p", Offence.INVALID)  # one invalid item on top of its spam


def test_what_is_judged_against_our_own_state_or_patience_never_bans() -> None:
    can_ban = {Offence.GARBAGE, Offence.INVALID, Offence.INVALID_SYNC_RESPONSE, Offence.ORPHAN}
    assert set(Offence) - set(FLOORS) == can_ban
    assert all(FLOORS[o] > BAN_THRESHOLD for o in FLOORS)


def test_a_ban_ends_and_the_peer_starts_afresh() -> None:
    clock = Clock()
    book = PeerBook(clock)
    assert book.punish("p", Offence.GARBAGE) and book.is_banned("p")
    clock.now += BAN_SECONDS + 1
    assert not book.is_banned("p") and book.score("p") == 0


def test_an_address_whose_peers_keep_getting_banned_is_blocked() -> None:
    clock = Clock()
    book = PeerBook(clock)
    for index in range(BANS_PER_ADDRESS):
        assert not book.is_blocked("203.0.113.7")
        assert book.punish(f"key-{index}", Offence.GARBAGE, "203.0.113.7")
    assert book.is_blocked("203.0.113.7")
    assert book.is_banned("a-brand-new-key", "203.0.113.7")  # a new key from the same machine
    assert not book.is_banned("a-brand-new-key", "198.51.100.1")
    clock.now += BAN_SECONDS + 1
    assert not book.is_blocked("203.0.113.7")


def test_loopback_is_never_blocked_as_a_whole() -> None:
    book = PeerBook(Clock())
    for index in range(BANS_PER_ADDRESS * 3):
        book.punish(f"key-{index}", Offence.GARBAGE, "127.0.0.1")
    assert not book.is_blocked("127.0.0.1") and not book.is_banned("honest", "127.0.0.1")


@given(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.sampled_from(list(Offence)), st.floats(0, 500)), max_size=60
    )
)
def test_scores_stay_between_the_worst_offence_and_zero_and_the_book_prunes(
    events: list[tuple[str, Offence, float]],
) -> None:
    clock = Clock()
    book = PeerBook(clock)
    worst = max(WEIGHTS.values())
    for peer, offence, wait in events:
        clock.now += wait
        book.is_banned(peer)  # a ban that ended is lifted (its score forgotten) before the offence
        before = book.score(peer)
        book.punish(peer, offence, "192.0.2.1")
        after = book.score(peer)
        assert BAN_THRESHOLD - worst * len(events) <= after <= before <= 0
        if offence in FLOORS:
            assert after >= min(before, FLOORS[offence])
    clock.now += 10 * BAN_SECONDS
    book.prune()
    assert not book.standing and not book.banned and not book.blocked


def test_ended_bans_are_reported_however_they_are_noticed_and_old_addresses_forgotten() -> None:
    clock = Clock()
    book = PeerBook(clock)
    book.punish("p", Offence.GARBAGE, "203.0.113.9")
    book.punish("q", Offence.GARBAGE, "203.0.113.9")
    clock.now += BAN_SECONDS + 1
    book.prune()  # noticed here, not by `is_banned`: the caller must still lift its other lists
    assert sorted(book.expired) == ["p", "q"] and not book.banned
    assert not book.address_bans
