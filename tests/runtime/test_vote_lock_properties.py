"""Governance never counts the same stake twice (issue 11, finding 7): random
bonds, unbonds, withdrawals, transfers and votes by a few accounts across a
proposal's life. While it is open, every voter keeps at least the stake it
voted with bonded, so the tally never exceeds the stake bonded now."""

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from runtime.constants import UNIT
from runtime.crypto import Keypair
from runtime.pallets import governance, staking
from tests.chain import ALICE, BOB, TestChain, failed

VOTERS = [Keypair(bytes([0x40 + i]) * 32) for i in range(3)]
FUNDS = 50_000 * UNIT
PARAMS: dict[str, Any] = {"voting_period": 6, "unbonding_period": 7, "enactment_delay": 1}

amounts = st.sampled_from([1, 10_000 * UNIT, 25_000 * UNIT, FUNDS])
ops = st.one_of(
    st.tuples(st.just("bond"), amounts),
    st.tuples(st.just("unbond"), amounts),
    st.tuples(st.just("withdraw"), st.just(0)),
    st.tuples(st.just("give"), amounts),  # to the next voter: the move of the attack
    st.tuples(st.just("aye"), st.just(0)),
    st.tuples(st.just("nay"), st.just(0)),
)
blocks = st.lists(st.lists(st.tuples(st.integers(0, len(VOTERS) - 1), ops), max_size=4), max_size=12)


def _call(who: int, op: str, value: int) -> tuple[str, str, dict[str, Any]]:
    if op in ("bond", "unbond"):
        return "staking", op, {"amount": value}
    if op == "withdraw":
        return "staking", "withdraw_unbonded", {}
    if op == "give":
        return "balances", "transfer", {"to": VOTERS[(who + 1) % len(VOTERS)].public, "amount": value}
    return "governance", "vote", {"id": 0, "aye": op == "aye"}


@given(blocks)
def test_open_tallies_never_count_more_than_the_stake_bonded_now(plan: list[list[tuple[int, Any]]]) -> None:
    chain = TestChain(replicate=False, **PARAMS)
    for key in VOTERS:
        chain.call(BOB, "balances", "transfer", to=key.public, amount=2 * FUNDS)
        chain.call(key, "staking", "bond", amount=FUNDS)
    events = chain.call(ALICE, "governance", "propose", action="set_validator_count", args={"count": 3})
    assert failed(events) is None
    for txs in plan:
        nonces = {key.public: chain.nonce(key.public) for key in VOTERS}
        raws = []
        for who, (op, value) in txs:
            key = VOTERS[who]
            pallet, name, args = _call(who, op, value)
            raws.append(chain.sign(key, pallet, name, nonce=nonces[key.public], **args))
            nonces[key.public] += 1
        assert not chain.produce(raws).bugs
        prop = governance.proposal(chain.state, 0)
        assert prop is not None
        if prop.status != governance.ProposalStatus.VOTING:
            continue
        assert prop.ayes + prop.nays <= staking.TotalBonded.get(chain.state)
        for key in VOTERS:
            _, weight = governance.Votes.get(chain.state, [0, key.public])
            assert staking.ledger(chain.state, key.public).bonded >= weight
