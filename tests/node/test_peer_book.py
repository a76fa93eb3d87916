"""Peer scores: graded, restored by time, bans by peer id, and by address
once several peer ids from it were banned (loopback never)."""

from hypothesis import given
from hypothesis import strategies as st

from node.peer_book import BAN_SECONDS, BAN_THRESHOLD, BANS_PER_ADDRESS, RECOVERY_PER_SECOND, PeerBook


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_small_offences_are_forgiven_with_time_and_a_stream_of_them_bans() -> None:
    clock = Clock()
    book = PeerBook(clock)
    assert not book.punish("p", 60)
    clock.now += 60 / RECOVERY_PER_SECOND  # fully forgiven
    assert book.score("p") == 0
    assert not book.punish("p", 60)  # the same offence again: still not banned
    assert book.punish("p", 60) and book.is_banned("p")
    clock.now += BAN_SECONDS + 1
    assert not book.is_banned("p") and book.score("p") == 0


def test_an_address_whose_peers_keep_getting_banned_is_blocked() -> None:
    clock = Clock()
    book = PeerBook(clock)
    for index in range(BANS_PER_ADDRESS):
        assert not book.is_blocked("203.0.113.7")
        assert book.punish(f"key-{index}", -BAN_THRESHOLD, "203.0.113.7")
    assert book.is_blocked("203.0.113.7")
    assert book.is_banned("a-brand-new-key", "203.0.113.7")  # a new key from the same machine
    assert not book.is_banned("a-brand-new-key", "198.51.100.1")
    clock.now += BAN_SECONDS + 1
    assert not book.is_blocked("203.0.113.7")


def test_loopback_is_never_blocked_as_a_whole() -> None:
    book = PeerBook(Clock())
    for index in range(BANS_PER_ADDRESS * 3):
        book.punish(f"key-{index}", -BAN_THRESHOLD, "127.0.0.1")
    assert not book.is_blocked("127.0.0.1") and not book.is_banned("honest", "127.0.0.1")


@given(st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 200), st.floats(0, 500)), max_size=60))
def test_scores_stay_between_the_worst_offence_and_zero_and_the_book_prunes(
    events: list[tuple[str, int, float]],
) -> None:
    clock = Clock()
    book = PeerBook(clock)
    for peer, points, wait in events:
        clock.now += wait
        book.punish(peer, points, "192.0.2.1")
        assert BAN_THRESHOLD - 200 * len(events) <= book.score(peer) <= 0
    clock.now += 10 * BAN_SECONDS
    book.prune()
    assert not book.standing and not book.banned and not book.blocked


def test_ended_bans_are_reported_however_they_are_noticed_and_old_addresses_forgotten() -> None:
    clock = Clock()
    book = PeerBook(clock)
    book.punish("p", -BAN_THRESHOLD, "203.0.113.9")
    book.punish("q", -BAN_THRESHOLD, "203.0.113.9")
    clock.now += BAN_SECONDS + 1
    book.prune()  # noticed here, not by `is_banned`: the caller must still lift its other lists
    assert sorted(book.expired) == ["p", "q"] and not book.banned
    assert not book.address_bans
