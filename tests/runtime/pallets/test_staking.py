from runtime.constants import UNIT
from runtime.pallets import staking
from tests.chain import ALICE, BOB, CHARLIE, DAVE, TestChain, failed


def test_genesis_validator_is_bonded_and_active() -> None:
    chain = TestChain()
    led = staking.ledger(chain.state, ALICE.public)
    assert led.role == staking.Role.VALIDATOR and led.bonded > 0
    assert staking.Active.get(chain.state) == (ALICE.public,)
    assert chain.account(ALICE.public).reserved == led.bonded
    assert staking.TotalBonded.get(chain.state) == led.bonded


def test_bond_reserves_funds() -> None:
    chain = TestChain()
    free = chain.account(BOB.public).free
    assert failed(chain.call(BOB, "staking", "bond", amount=2_000 * UNIT)) is None
    assert staking.ledger(chain.state, BOB.public).bonded == 2_000 * UNIT
    acc = chain.account(BOB.public)
    assert acc.reserved == 2_000 * UNIT and acc.free < free - 2_000 * UNIT


def test_bond_errors() -> None:
    chain = TestChain()
    assert failed(chain.call(BOB, "staking", "bond", amount=0)) == "staking.ZeroAmount"
    too_much = chain.account(BOB.public).free + 1
    assert failed(chain.call(BOB, "staking", "bond", amount=too_much)) == "balances.InsufficientBalance"


def test_unbond_then_withdraw_after_the_unbonding_period() -> None:
    chain = TestChain()
    chain.call(BOB, "staking", "bond", amount=2_000 * UNIT)
    chain.call(BOB, "staking", "unbond", amount=500 * UNIT)
    unlock_at = chain.head.number + chain.params.unbonding_period
    led = staking.ledger(chain.state, BOB.public)
    assert led.bonded == 1_500 * UNIT and led.unbonding == ((500 * UNIT, unlock_at),)
    assert failed(chain.call(BOB, "staking", "withdraw_unbonded")) == "staking.NothingToWithdraw"
    chain.advance_to(unlock_at - 1)
    reserved = chain.account(BOB.public).reserved
    assert failed(chain.call(BOB, "staking", "withdraw_unbonded")) is None
    assert chain.account(BOB.public).reserved == reserved - 500 * UNIT
    assert staking.ledger(chain.state, BOB.public).unbonding == ()


def test_unbond_errors() -> None:
    chain = TestChain()
    assert failed(chain.call(BOB, "staking", "unbond", amount=1)) == "staking.InsufficientBond"
    assert failed(chain.call(BOB, "staking", "unbond", amount=0)) == "staking.ZeroAmount"
    chain.call(BOB, "staking", "bond", amount=100 * UNIT)
    for _ in range(32):
        chain.call(BOB, "staking", "unbond", amount=1)
    assert failed(chain.call(BOB, "staking", "unbond", amount=1)) == "staking.TooManyChunks"


def test_validate_needs_minimum_bond_and_election_takes_top_n() -> None:
    chain = TestChain(max_validators=2)
    assert failed(chain.call(BOB, "staking", "validate")) == "staking.InsufficientBond"
    for key, bond in ((BOB, 200_000), (CHARLIE, 150_000), (DAVE, 5_000)):
        chain.call(key, "staking", "bond", amount=bond * UNIT)
        assert failed(chain.call(key, "staking", "validate")) is None
    assert failed(chain.call(BOB, "staking", "validate")) == "staking.AlreadyInRole"
    era = staking.CurrentEra.get(chain.state)
    chain.advance_to(chain.params.era_length)
    assert staking.CurrentEra.get(chain.state) == era + 1
    # alice bonded 100k, bob 200k, charlie 150k, dave 5k: top 2 are bob and charlie
    assert staking.Active.get(chain.state) == tuple(sorted((BOB.public, CHARLIE.public)))


def test_unbonding_below_minimum_chills_the_validator() -> None:
    chain = TestChain()
    chain.call(BOB, "staking", "bond", amount=2_000 * UNIT)
    chain.call(BOB, "staking", "validate")
    assert BOB.public in staking.Candidates.get(chain.state)
    chain.call(BOB, "staking", "unbond", amount=1_500 * UNIT)
    assert staking.ledger(chain.state, BOB.public).role == staking.Role.NONE
    assert BOB.public not in staking.Candidates.get(chain.state)


def test_validate_and_chill() -> None:
    chain = TestChain()
    assert failed(chain.call(BOB, "staking", "chill")) == "staking.NoRole"
    chain.call(BOB, "staking", "bond", amount=20_000 * UNIT)
    assert failed(chain.call(BOB, "staking", "validate")) is None
    assert BOB.public in staking.Candidates.get(chain.state)
    assert failed(chain.call(BOB, "staking", "chill")) is None
    assert BOB.public not in staking.Candidates.get(chain.state)
    assert staking.ledger(chain.state, BOB.public).role == staking.Role.NONE


def test_providing_is_not_a_staking_role() -> None:
    """One becomes a provider by registering (`registry.register_provider`)."""
    chain = TestChain()
    chain.call(BOB, "staking", "bond", amount=2_000 * UNIT)
    assert failed(chain.call(BOB, "staking", "provide")) == "system.UnknownCall"


def test_election_of_nobody_keeps_the_old_set() -> None:
    chain = TestChain()
    chain.call(ALICE, "staking", "chill")
    chain.advance_to(chain.params.era_length)
    assert staking.Active.get(chain.state) == (ALICE.public,)
