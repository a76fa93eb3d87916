from dataclasses import fields, replace

from runtime.constants import SLASH_CAP_PPM, UNIT
from runtime.crypto import Keypair
from runtime.errors import DispatchError
from runtime.pallets import slashing, staking, treasury
from runtime.params import Params, governable
from runtime.types import Header, seal_payload
from tests.chain import ALICE, BOB, TestChain, failed


def test_offence_slashes_its_rate_and_pays_the_treasury() -> None:
    chain = TestChain(replicate=False)  # the test reports offences outside blocks
    chain.call(BOB, "staking", "bond", amount=1_000 * UNIT)
    eco = chain.account(treasury.ECOSYSTEM).free
    taken = slashing.report_offence(chain.ctx(), BOB.public, slashing.Offence.MISMATCH)
    assert taken == 200 * UNIT
    assert staking.ledger(chain.state, BOB.public).bonded == 800 * UNIT
    assert chain.account(BOB.public).reserved == 800 * UNIT
    assert chain.account(treasury.ECOSYSTEM).free == eco + taken


def test_each_offence_kind_uses_its_table_rate() -> None:
    expected = {
        slashing.Offence.MISSED_REVEAL: 50,
        slashing.Offence.MISMATCH: 200,
        slashing.Offence.FAILED_KNOWN_ANSWER: 300,
        slashing.Offence.EQUIVOCATION: 500,
        slashing.Offence.FALSE_VERDICT: 200,
    }
    assert set(expected) == set(slashing.Offence) == set(slashing.SLASH_RATE)
    for kind, per_mille in expected.items():
        chain = TestChain(replicate=False)
        chain.call(BOB, "staking", "bond", amount=1_000 * UNIT)
        assert slashing.report_offence(chain.ctx(), BOB.public, kind) == per_mille * UNIT


def test_every_slash_rate_is_a_governable_parameter() -> None:
    params = TestChain(replicate=False).params
    for kind, rate in slashing.SLASH_RATE.items():
        moved = rate(params) + (1 if rate(params) < SLASH_CAP_PPM else -1)
        read = [f.name for f in fields(Params) if rate(_moved(params, f.name, moved)) == moved]
        assert len(read) == 1 and governable(read[0], moved) is None, (kind, read)


def _moved(params: Params, name: str, value: int) -> Params:
    try:
        return replace(params, **{name: value})
    except ValueError:  # out of that parameter's bounds: not the one
        return params


def test_repeat_within_an_era_escalates_to_the_cap() -> None:
    chain = TestChain(replicate=False)  # the test reports offences outside blocks
    chain.call(BOB, "staking", "bond", amount=1_000 * UNIT)
    ctx = chain.ctx()
    slashing.report_offence(ctx, BOB.public, slashing.Offence.MISSED_REVEAL)
    second = slashing.report_offence(ctx, BOB.public, slashing.Offence.MISSED_REVEAL)
    assert second == 950 * UNIT * SLASH_CAP_PPM // 10**6


def test_offence_in_a_new_era_starts_over() -> None:
    chain = TestChain(replicate=False)  # the test reports offences outside blocks
    chain.call(BOB, "staking", "bond", amount=1_000 * UNIT)
    slashing.report_offence(chain.ctx(), BOB.public, slashing.Offence.MISSED_REVEAL)
    chain.advance_to(chain.params.era_length)
    second = slashing.report_offence(chain.ctx(), BOB.public, slashing.Offence.MISSED_REVEAL)
    assert second == 950 * UNIT * 5 // 100


def test_slashing_reaches_unbonding_stake() -> None:
    chain = TestChain(replicate=False)  # the test reports offences outside blocks
    chain.call(BOB, "staking", "bond", amount=1_000 * UNIT)
    chain.call(BOB, "staking", "unbond", amount=1_000 * UNIT)
    taken = slashing.report_offence(chain.ctx(), BOB.public, slashing.Offence.MISMATCH)
    assert taken == 200 * UNIT
    assert staking.ledger(chain.state, BOB.public).unbonding_total == 800 * UNIT


def test_unknown_offence_is_refused() -> None:
    chain = TestChain(replicate=False)  # the test reports offences outside blocks
    try:
        slashing.report_offence(chain.ctx(), BOB.public, "jaywalking")  # type: ignore[arg-type]
    except DispatchError as err:
        assert err.error == "UnknownOffence"
    else:
        raise AssertionError("unknown offence accepted")


def _sealed(key: Keypair, slot: int, salt: bytes) -> tuple[bytes, bytes]:
    header = Header(b"\x01" * 32, 5, salt * 32, b"\x00" * 32, slot, key.public)
    return header.encode(), key.sign(seal_payload(header.hash))


def test_equivocation_evidence_slashes_half_and_chills() -> None:
    chain = TestChain()
    ha, sa = _sealed(ALICE, 9, b"\x02")
    hb, sb = _sealed(ALICE, 9, b"\x03")
    bonded = staking.ledger(chain.state, ALICE.public).bonded
    events = chain.call(
        BOB, "slashing", "report_equivocation", header_a=ha, seal_a=sa, header_b=hb, seal_b=sb
    )
    assert failed(events) is None
    assert staking.ledger(chain.state, ALICE.public).bonded == bonded // 2
    assert staking.ledger(chain.state, ALICE.public).role == staking.Role.NONE
    again = chain.call(BOB, "slashing", "report_equivocation", header_a=ha, seal_a=sa, header_b=hb, seal_b=sb)
    assert failed(again) == "slashing.AlreadyReported"


def test_equivocation_evidence_errors() -> None:
    chain = TestChain()
    ha, sa = _sealed(ALICE, 9, b"\x02")
    hb, sb = _sealed(ALICE, 10, b"\x03")
    hc, sc = _sealed(BOB, 9, b"\x03")
    hd, sd = _sealed(BOB, 9, b"\x04")

    def report(a: bytes, s_a: bytes, b: bytes, s_b: bytes) -> str | None:
        return failed(
            chain.call(
                BOB,
                "slashing",
                "report_equivocation",
                header_a=a,
                seal_a=s_a,
                header_b=b,
                seal_b=s_b,
            )
        )

    assert report(ha, sa, hb, sb) == "slashing.BadEvidence"  # different slots
    assert report(ha, sa, hc, sc) == "slashing.BadEvidence"  # different authors
    assert report(ha, sa, ha, sa) == "slashing.BadEvidence"  # same block
    assert report(ha, sb, ha, sa) == "slashing.BadEvidence"  # bad seal
    assert report(b"\xc1", sa, ha, sa) == "slashing.BadEvidence"  # garbage header
    assert report(hc, sc, hd, sd) == "slashing.NotStaked"


def _vote(key: Keypair, chain_id: bytes, source: int, target: int, tag: bytes = b"\x01") -> bytes:
    from runtime.codec import encode
    from runtime.types import vote_payload

    s, t = (source, tag * 32), (target, tag * 32)
    return encode([s[0], s[1], t[0], t[1], key.public, key.sign(vote_payload(chain_id, s, t))])


def test_vote_equivocation_evidence_slashes_once_per_era() -> None:
    chain = TestChain()
    bonded = staking.ledger(chain.state, ALICE.public).bonded
    double_a = _vote(ALICE, chain.chain_id, 3, 4)
    double_b = _vote(ALICE, chain.chain_id, 3, 4, tag=b"\x02")
    events = chain.call(BOB, "slashing", "report_vote_equivocation", vote_a=double_a, vote_b=double_b)
    assert failed(events) is None
    assert staking.ledger(chain.state, ALICE.public).bonded == bonded // 2
    surround = _vote(ALICE, chain.chain_id, 1, 9), _vote(ALICE, chain.chain_id, 2, 5)
    again = chain.call(BOB, "slashing", "report_vote_equivocation", vote_a=surround[0], vote_b=surround[1])
    assert failed(again) == "slashing.AlreadyReported"


def test_vote_equivocation_evidence_errors() -> None:
    chain = TestChain()
    cid = chain.chain_id

    def report(a: bytes, b: bytes) -> str | None:
        return failed(chain.call(BOB, "slashing", "report_vote_equivocation", vote_a=a, vote_b=b))

    honest = _vote(ALICE, cid, 3, 4), _vote(ALICE, cid, 4, 5)
    assert report(*honest) == "slashing.BadEvidence"  # consecutive votes do not conflict
    assert report(honest[0], honest[0]) == "slashing.BadEvidence"  # the same vote twice
    assert report(_vote(ALICE, cid, 3, 4), _vote(BOB, cid, 3, 4, b"\x02")) == "slashing.BadEvidence"
    assert report(_vote(ALICE, b"\x09" * 32, 3, 4), _vote(ALICE, b"\x09" * 32, 3, 4, b"\x02")) == (
        "slashing.BadEvidence"  # signed for another chain
    )
    assert report(b"\xc1", honest[0]) == "slashing.BadEvidence"
