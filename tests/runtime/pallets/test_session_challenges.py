"""`sessions.publish` with several leaves in one call, and the opener's
`sessions.challenge` of a settled leaf: published and checked like a
sampled one (the same window, the same slashes), bounded per batch, only by
the opener, only of settled leaves, refused once the session has ended."""

import pytest

from runtime.constants import (
    MAX_CHALLENGES_PER_BATCH,
    MAX_SAMPLED_LEAVES,
    SESSION_PUBLISH_WINDOW,
    UNIT,
    ppm_of,
)
from runtime.pallets import session_audits, session_checks, sessions, staking, verification
from runtime.pallets.session_records import CHALLENGE_BATCH
from runtime.types import Event
from tests.chain import ALICE, EVE, failed
from tests.runtime.pallets.test_session_checks import Market, named

BOND = 1_000 * UNIT


def _settled(monkeypatch: pytest.MonkeyPatch, leaves: int, rate: int) -> Market:
    m = Market(monkeypatch, rate=rate)
    for n in range(leaves):
        m.log.serve(f"request {n}")
    assert failed(m.settle(leaves)) is None
    return m


def test_one_publish_carries_several_leaves_and_refuses_only_the_invalid_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = _settled(monkeypatch, 3, 1_000_000)
    assert m.drawn().leaves == (0, 1, 2)
    items = [m.log.item(0, 3), m.log.item(1, 3, result=b"not what was served"), m.log.item(2, 3)]
    events = m.publish_all(items)
    assert failed(events) is None
    assert [p["leaf"] for p in named(events, "SamplePublished")] == [0, 2]
    (refused,) = named(events, "PublicationRefused")
    assert (refused["leaf"], refused["error"]) == (1, "sessions.BadProof")
    assert failed(m.publish_all([m.log.item(1, 3, proof=[])])) == "sessions.BadProof"  # none valid: refused
    events = m.publish_all([m.log.item(0, 3), m.log.item(1, 3)])  # a resend crossing the inclusion of 0
    assert (
        failed(events) is None
        and named(events, "PublicationRefused")[0]["error"] == "sessions.AlreadyPublished"
    )
    assert session_audits.owed(m.chain.state, EVE.public) == []
    assert failed(m.publish_all([])) == "system.BadArguments"
    assert failed(m.publish_all([m.log.item(0, 3)] * (MAX_SAMPLED_LEAVES + 1))) == "system.BadArguments"


def test_a_challenged_leaf_of_a_verified_batch_is_published_checked_and_cleared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = _settled(monkeypatch, 3, 0)
    seen = m.events(m.chain.head.number + 2)
    assert named(seen, "BatchVerified")  # nothing sampled: cleared at the draw
    events = m.challenge(2)
    assert failed(events) is None
    (challenged,) = named(events, "Challenged")
    assert (challenged["batch"], challenged["leaf"], challenged["seq"]) == (0, 1, 2)
    assert challenged["publish_by"] == m.chain.head.number + SESSION_PUBLISH_WINDOW
    (owed,) = session_audits.owed(m.chain.state, EVE.public)
    assert (owed.batch, owed.leaves, owed.units, owed.fee) == (CHALLENGE_BATCH + 1, (1,), 0, 0)
    assert session_audits.holding(m.chain.state, 0)
    events = m.publish(1, 3)
    (published,) = named(events, "SamplePublished")
    sample = session_checks.sample(m.chain.state, published["check"])
    assert sample is not None and sample.request == m.log.records[1][1]
    (verifier,) = m.verifiers(published["check"])
    m.chain.call(verifier, "verification", "verdict", job=published["check"], match=True)
    seen = m.chain.events + m.events(m.chain.head.number + 2)
    (cleared,) = named(seen, "ChallengeCleared")
    assert (cleared["leaf"], cleared["reason"]) == (1, "verified")
    assert not named(seen, "BatchVerified") and not named(seen, "BatchRejected")  # no money moves
    assert staking.ledger(m.chain.state, EVE.public).bonded == BOND
    assert not session_audits.holding(m.chain.state, 0)


def test_a_challenge_not_published_in_time_slashes_like_a_missed_sample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = _settled(monkeypatch, 2, 0)
    m.events(m.chain.head.number + 2)
    publish_by = named(m.challenge(1), "Challenged")[0]["publish_by"]
    events = m.publish(0, 2, result=b"forged")
    assert failed(events) == "sessions.BadProof"
    seen = m.events(publish_by + 1)
    (missed,) = named(seen, "PublicationMissed")
    assert missed["leaves"] == [0]
    (cleared,) = named(seen, "ChallengeCleared")
    assert cleared["reason"] == "missed"
    assert staking.ledger(m.chain.state, EVE.public).bonded == BOND - ppm_of(BOND, 50_000)


def test_a_challenged_wrong_answer_proven_by_dispute_slashes_20_percent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = _settled(monkeypatch, 1, 0)
    m.events(m.chain.head.number + 2)
    assert failed(m.challenge(1)) is None
    check_id = named(m.publish(0, 1), "SamplePublished")[0]["check"]
    first = m.verifiers(check_id)[0]
    m.chain.call(first, "verification", "verdict", job=check_id, match=False)
    seen: list[Event] = []
    for verifier in m.verifiers(check_id)[1:]:
        m.chain.call(verifier, "verification", "verdict", job=check_id, match=False)
        seen += m.chain.events
    seen += m.events(m.chain.head.number + 2)
    assert verification.outcome(m.chain.state, check_id) == verification.CheckStatus.FAILED
    (cleared,) = named(seen, "ChallengeCleared")
    assert cleared["reason"] == "mismatch"
    assert staking.ledger(m.chain.state, EVE.public).bonded == BOND - ppm_of(BOND, 200_000)


def test_challenges_are_bounded_per_batch_and_only_of_the_openers_settled_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = _settled(monkeypatch, 6, 0)
    m.log.serve("not settled")
    assert failed(m.challenge(1, by=ALICE)) == "sessions.NotOpener"
    assert failed(m.challenge(1, by=EVE)) == "sessions.NotOpener"  # not even its provider
    assert failed(m.challenge(0)) == "sessions.NotSettled"
    assert failed(m.challenge(7)) == "sessions.NotSettled"  # served, not settled
    assert failed(m.challenge(1, session=5)) == "sessions.UnknownSession"
    for seq in range(1, MAX_CHALLENGES_PER_BATCH + 1):
        assert failed(m.challenge(seq)) is None
    assert failed(m.challenge(1)) == "sessions.AlreadyChallenged"
    assert failed(m.challenge(MAX_CHALLENGES_PER_BATCH + 1)) == "sessions.TooManyChallenges"
    assert len(session_audits.owed(m.chain.state, EVE.public)) == MAX_CHALLENGES_PER_BATCH


def test_a_challenge_after_the_sessions_end_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    m = _settled(monkeypatch, 2, 0)
    assert failed(m.chain.call(EVE, "sessions", "close", session=0)) is None
    found = sessions.session(m.chain.state, 0)
    assert found is not None
    m.chain.advance_to(found.ends_at + 2)
    assert sessions.session(m.chain.state, 0) is None
    assert failed(m.challenge(1)) == "sessions.UnknownSession"
