from runtime.constants import UNIT
from runtime.crypto import Keypair
from runtime.pallets import governance, staking, treasury
from tests.chain import ALICE, BOB, CHARLIE, TestChain, failed


def _propose(chain: TestChain, action: str, **args: object) -> int:
    events = chain.call(BOB, "governance", "propose", action=action, args=args)
    assert failed(events) is None, events
    return int(next(e.data["id"] for e in events if e.name == "Proposed"))


def _pass(chain: TestChain, pid: int) -> None:
    assert failed(chain.call(ALICE, "governance", "vote", id=pid, aye=True)) is None
    prop = governance.proposal(chain.state, pid)
    assert prop is not None
    chain.advance_to(prop.end)
    prop = governance.proposal(chain.state, pid)
    assert prop is not None and prop.status == governance.ProposalStatus.PASSED
    chain.advance_to(prop.enact_at)


def test_param_change_passes_and_is_enacted_after_the_delay() -> None:
    chain = TestChain()
    reserved = chain.account(BOB.public).reserved
    pid = _propose(chain, "set_param", name="burn_rate_ppm", value=180_000)
    assert chain.account(BOB.public).reserved == reserved + chain.params.proposal_deposit
    _pass(chain, pid)
    prop = governance.proposal(chain.state, pid)
    assert prop is not None and prop.status == governance.ProposalStatus.ENACTED
    assert chain.params.burn_rate_ppm == 180_000
    assert chain.account(BOB.public).reserved == reserved


def test_param_out_of_bounds_or_unknown_is_refused_before_the_deposit() -> None:
    chain = TestChain()
    reserved = chain.account(BOB.public).reserved
    bad = chain.call(
        BOB,
        "governance",
        "propose",
        action="set_param",
        args={"name": "burn_rate_ppm", "value": 300_000},
    )
    assert failed(bad) == "governance.OutOfBounds"
    bad = chain.call(
        BOB,
        "governance",
        "propose",
        action="set_param",
        args={"name": "blocks_per_year", "value": 1},
    )
    assert failed(bad) == "governance.OutOfBounds"
    bad = chain.call(BOB, "governance", "propose", action="set_param", args={"name": "x"})
    assert failed(bad) == "governance.BadAction"
    bad = chain.call(BOB, "governance", "propose", action="mint_me", args={})
    assert failed(bad) == "system.BadArguments"
    assert chain.account(BOB.public).reserved == reserved


def test_reserve_spend_only_through_an_enacted_proposal() -> None:
    chain = TestChain()
    reserve = chain.account(treasury.RESERVE).free
    charlie = chain.account(CHARLIE.public).free
    pid = _propose(chain, "treasury_spend", source="reserve", to=CHARLIE.public, amount=1_000 * UNIT)
    _pass(chain, pid)
    assert chain.account(treasury.RESERVE).free == reserve - 1_000 * UNIT
    assert chain.account(CHARLIE.public).free == charlie + 1_000 * UNIT


def test_spend_beyond_funds_fails_at_enactment() -> None:
    chain = TestChain()
    pid = _propose(chain, "treasury_spend", source="reserve", to=CHARLIE.public, amount=10**18)
    _pass(chain, pid)
    prop = governance.proposal(chain.state, pid)
    assert prop is not None and prop.status == governance.ProposalStatus.FAILED


def test_validator_count_change() -> None:
    chain = TestChain()
    pid = _propose(chain, "set_validator_count", count=7)
    _pass(chain, pid)
    assert chain.params.max_validators == 7
    bad = chain.call(BOB, "governance", "propose", action="set_validator_count", args={"count": 0})
    assert failed(bad) == "governance.OutOfBounds"


def test_without_quorum_the_proposal_is_rejected() -> None:
    chain = TestChain()
    pid = _propose(chain, "set_param", name="burn_rate_ppm", value=120_000)
    chain.call(BOB, "staking", "bond", amount=10 * UNIT)  # 10 of 100,010 bonded: below quorum
    chain.call(BOB, "governance", "vote", id=pid, aye=True)
    prop = governance.proposal(chain.state, pid)
    assert prop is not None
    chain.advance_to(prop.end)
    prop = governance.proposal(chain.state, pid)
    assert prop is not None and prop.status == governance.ProposalStatus.REJECTED
    assert chain.params.burn_rate_ppm == 150_000


def test_nays_win_and_a_revote_replaces_the_old_vote() -> None:
    chain = TestChain()
    pid = _propose(chain, "set_param", name="burn_rate_ppm", value=120_000)
    chain.call(ALICE, "governance", "vote", id=pid, aye=True)
    chain.call(ALICE, "governance", "vote", id=pid, aye=False)
    prop = governance.proposal(chain.state, pid)
    assert prop is not None and prop.ayes == 0 and prop.nays > 0
    chain.advance_to(prop.end)
    prop = governance.proposal(chain.state, pid)
    assert prop is not None and prop.status == governance.ProposalStatus.REJECTED


def test_vote_errors() -> None:
    chain = TestChain()
    assert failed(chain.call(ALICE, "governance", "vote", id=99, aye=True)) == "governance.UnknownProposal"
    pid = _propose(chain, "set_param", name="burn_rate_ppm", value=120_000)
    assert failed(chain.call(CHARLIE, "governance", "vote", id=pid, aye=True)) == "governance.NoStake"
    prop = governance.proposal(chain.state, pid)
    assert prop is not None
    chain.advance_to(prop.end)
    assert failed(chain.call(ALICE, "governance", "vote", id=pid, aye=True)) == "governance.VotingClosed"


def test_passes_rule() -> None:
    assert governance.passes(60, 40, 400, 200_000, 500_000)
    assert not governance.passes(60, 10, 400, 200_000, 500_000)  # turnout 70 < 80
    assert not governance.passes(40, 60, 400, 200_000, 500_000)
    assert not governance.passes(0, 0, 0, 0, 0)


def test_open_proposals_are_bounded() -> None:
    from runtime.constants import MAX_PROPOSALS_ACTIVE

    chain = TestChain(replicate=False, voting_period=1_000, unbonding_period=1_001)
    n = chain.nonce(BOB.public)
    raws = [
        chain.sign(
            BOB,
            "governance",
            "propose",
            nonce=n + i,
            action="set_validator_count",
            args={"count": 3},
        )
        for i in range(MAX_PROPOSALS_ACTIVE + 1)
    ]
    built = chain.produce(raws)
    last = [e for e in built.events if e.extrinsic_index == MAX_PROPOSALS_ACTIVE]
    assert failed(last) == "governance.TooManyProposals"
    assert len(governance.Open.get(chain.state)) == MAX_PROPOSALS_ACTIVE


def test_stake_that_voted_cannot_move_and_vote_again_before_the_close() -> None:
    """Issue 11, finding 7: vote, unbond, withdraw, move to another account,
    bond again and vote a second time, all within one voting period."""
    chain = TestChain()
    first, second = Keypair(b"\x31" * 32), Keypair(b"\x32" * 32)
    stake = 60_000 * UNIT  # alice's 100,000 say nay: the honest tally rejects
    chain.call(BOB, "balances", "transfer", to=first.public, amount=stake + UNIT)
    chain.call(BOB, "balances", "transfer", to=second.public, amount=UNIT)
    assert failed(chain.call(first, "staking", "bond", amount=stake)) is None
    pid, n = governance.NextId.get(chain.state), chain.nonce(first.public)
    built = chain.produce([
        chain.sign(BOB, "governance", "propose", action="set_param", args={"name": "burn_rate_ppm",
                                                                           "value": 200_000}),
        chain.sign(ALICE, "governance", "vote", id=pid, aye=False),
        chain.sign(first, "governance", "vote", nonce=n, id=pid, aye=True),
        chain.sign(first, "staking", "unbond", nonce=n + 1, amount=stake),
    ])  # fmt: skip
    assert failed([e for e in built.events if e.extrinsic_index == 3]) == "staking.VoteLocked"
    prop = governance.proposal(chain.state, pid)
    assert prop is not None
    unlocks = [at for _, at in staking.ledger(chain.state, first.public).unbonding] or [prop.end]
    chain.advance_to(min(unlocks) - 1)
    n, m = chain.nonce(first.public), chain.nonce(second.public)
    # the rest of the attack, in the last block that takes votes
    chain.produce([
        chain.sign(first, "staking", "withdraw_unbonded", nonce=n),
        chain.sign(first, "balances", "transfer", nonce=n + 1, to=second.public, amount=stake),
        chain.sign(second, "staking", "bond", nonce=m, amount=stake),
        chain.sign(second, "governance", "vote", nonce=m + 1, id=pid, aye=True),
    ])  # fmt: skip
    chain.advance_to(prop.end)
    prop = governance.proposal(chain.state, pid)
    assert prop is not None and prop.status == governance.ProposalStatus.REJECTED and prop.ayes == stake
    assert chain.params.burn_rate_ppm == 150_000


def test_voted_stake_unbonds_after_the_close_and_unvoted_stake_at_any_time() -> None:
    chain = TestChain()
    chain.call(BOB, "staking", "bond", amount=1_000 * UNIT)
    pid = _propose(chain, "set_param", name="burn_rate_ppm", value=120_000)
    assert failed(chain.call(BOB, "governance", "vote", id=pid, aye=True)) is None
    chain.call(BOB, "staking", "bond", amount=500 * UNIT)  # bonded after the vote: not locked
    assert failed(chain.call(BOB, "staking", "unbond", amount=500 * UNIT)) is None
    assert failed(chain.call(BOB, "staking", "unbond", amount=1)) == "staking.VoteLocked"
    prop = governance.proposal(chain.state, pid)
    assert prop is not None
    chain.advance_to(prop.end)
    assert failed(chain.call(BOB, "staking", "unbond", amount=1_000 * UNIT)) is None
    assert staking.VoteLocks.get(chain.state, BOB.public) == ()


def test_a_revote_moves_the_lock_with_the_new_weight() -> None:
    chain = TestChain()
    chain.call(BOB, "staking", "bond", amount=1_000 * UNIT)
    pid = _propose(chain, "set_param", name="burn_rate_ppm", value=120_000)
    chain.call(BOB, "governance", "vote", id=pid, aye=True)
    chain.call(BOB, "staking", "bond", amount=500 * UNIT)
    chain.call(BOB, "governance", "vote", id=pid, aye=False)  # now 1,500 vote
    assert failed(chain.call(BOB, "staking", "unbond", amount=1)) == "staking.VoteLocked"
    prop = governance.proposal(chain.state, pid)
    assert prop is not None and (prop.ayes, prop.nays) == (0, 1_500 * UNIT)
    assert staking.vote_locked(chain.state, BOB.public, chain.head.number) == (1_500 * UNIT, prop.end)
