"""Sampled verification of sessions under random play: a provider serves
(honestly, overcharging, or logging malformed requests), settles, publishes
some sampled leaves (some with a corrupted proof or result), the user challenges settled
leaves, validators
answer some checks either way, the user closes, and empty blocks let the
draws, the publication windows, the checks and the session's end pass.
After every block:

- every balance + burned == minted <= cap (`test_properties.check_invariants`);
- each open audit's held verifiers' share is still in its provider's
  reserved balance, on top of its bonded and unbonding stake;
- a session's count of open audits is its audits', and a session with an
  open audit is never ended;
- only a provider's owed batches are in its publication index.
And at the end, once everything cleared, nothing is held or owed any more."""

from typing import Any
from unittest.mock import patch

from hypothesis import given
from hypothesis import strategies as st

from runtime.codec import encode
from runtime.constants import PPM
from runtime.pallets import balances, session_audits, sessions, staking, verification
from runtime.pallets.session_records import Audit, AuditPhase, Audits, OpenAudits, Owed
from runtime.pallets.session_types import batch_key
from runtime.record import from_wire
from runtime.state import State
from runtime.storage import _load
from tests.chain import EVE, FERDIE, failed
from tests.runtime.pallets.test_session_checks import VALIDATORS, Market
from tests.runtime.test_properties import check_invariants

action = st.one_of(
    st.tuples(st.just("serve"), st.sampled_from(["honest", "honest", "honest", "overcharge", "malformed"])),
    st.tuples(st.just("settle"), st.just(0)),
    st.tuples(st.just("publish"), st.sampled_from(["ok", "ok", "ok", "bad_result", "bad_units"])),
    st.tuples(st.just("verdict"), st.booleans()),
    st.tuples(st.just("challenge"), st.integers(1, 12)),
    st.tuples(st.just("close"), st.just(0)),
    st.tuples(st.just("gap"), st.sampled_from([1, 3, 12, 25])),
)


def _audits(state: State) -> list[Audit]:
    return [from_wire(Audit, _load(v)) for k, v in state.items() if k.startswith(Audits.prefix)]


def check_audits(state: State) -> None:
    check_invariants(state)
    audits = _audits(state)
    held: dict[bytes, int] = {}
    per_session: dict[int, int] = {}
    for found in audits:
        held[found.provider] = held.get(found.provider, 0) + found.held
        per_session[found.session] = per_session.get(found.session, 0) + 1
        assert sessions.session(state, found.session) is not None  # the end waits
        owed = batch_in(Owed.get(state, found.provider), found)
        assert owed == (found.phase == AuditPhase.PUBLISH)
    for who, amount in held.items():
        ledger = staking.ledger(state, who)
        reserved = balances.get(state, who).reserved
        assert reserved >= ledger.bonded + ledger.unbonding_total + amount
    for key, value in state.items():
        if key.startswith(OpenAudits.prefix):
            session_id = _load(key[len(OpenAudits.prefix) :])
            assert per_session.get(session_id) == _load(value)
    assert all(per_session[s] == OpenAudits.get(state, s) for s in per_session)


def batch_in(keys: tuple[bytes, ...], found: Audit) -> bool:
    return batch_key(found.session, found.batch) in keys


def _play(m: Market, kind: str, arg: Any) -> None:
    chain, log = m.chain, m.log
    found = sessions.session(chain.state, 0)
    if kind == "serve":
        n = len(log.records)
        if arg == "malformed":
            log.serve("x", request=encode(["embed", b"\xc1", {}]), units=3)
        else:
            log.serve(f"request {n}", units=None if arg == "honest" else 10_000)
    elif kind == "settle" and found is not None and len(log.records) > found.count:
        m.settle(len(log.records))
    elif kind == "publish":
        for audit in session_audits.owed(chain.state, EVE.public):
            index = next(i for i, c in zip(audit.leaves, audit.checks, strict=True) if not c)
            overrides: dict[str, Any] = {}
            if arg == "bad_result":
                overrides["result"] = b"not what was served"
            elif arg == "bad_units":
                overrides["units"] = log.records[index][3] + 1
            m.publish(index, audit.count, **overrides)
            break
        else:
            chain.produce()
    elif kind == "verdict":
        for who, key in VALIDATORS.items():
            tasks = verification.tasks(chain.state, who)
            if tasks:
                chain.call(key, "verification", "verdict", job=tasks[0], match=arg)
                break
        else:
            chain.produce()
    elif kind == "challenge" and found is not None:
        m.challenge(arg)  # refused when that seq is not settled, or its batch has its challenges
    elif kind == "close" and found is not None:
        chain.call(FERDIE, "sessions", "close", session=0)
    elif kind == "gap":
        for _ in range(arg):
            chain.produce()
            check_audits(chain.state)
    else:
        chain.produce()


@given(st.sampled_from([0, 300_000, PPM]), st.lists(action, min_size=1, max_size=25))
def test_random_session_audits_keep_the_money_and_the_holds_right(
    rate: int, plan: list[tuple[str, Any]]
) -> None:
    with patch.object(verification, "sample_rate", lambda *_: rate):
        m = Market(_NoMonkey(), rate=rate)  # type: ignore[arg-type]
        check_audits(m.chain.state)
        for kind, arg in plan:
            _play(m, kind, arg)
            check_audits(m.chain.state)
        left = sessions.session(m.chain.state, 0)
        if left is not None and left.status == sessions.SessionStatus.OPEN:
            assert failed(m.chain.call(FERDIE, "sessions", "close", session=0)) is None
        m.chain.advance_to(m.chain.head.number + 200)  # every window, check and dispute runs out
        check_audits(m.chain.state)
        assert sessions.session(m.chain.state, 0) is None and _audits(m.chain.state) == []
        assert Owed.get(m.chain.state, EVE.public) == () and not session_audits.holding(m.chain.state, 0)
        assert m.chain.account(FERDIE.public).reserved == 0


class _NoMonkey:
    """Market's monkeypatch, when the test patches the rate itself (hypothesis
    runs many examples in one test call: no function-scoped fixture)."""

    def setattr(self, *_: Any) -> None:
        pass
