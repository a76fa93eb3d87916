from runtime.constants import NONCE_EPOCH, UNIT
from runtime.crypto import Keypair
from runtime.pallets import balances, treasury
from runtime.types import Event
from tests.chain import ALICE, BOB, TestChain, failed, names


def test_transfer_moves_funds_and_charges_fee() -> None:
    chain = TestChain()
    before_a, before_b = chain.account(ALICE.public), chain.account(BOB.public)
    events = chain.call(ALICE, "balances", "transfer", to=BOB.public, amount=5 * UNIT)
    assert failed(events) is None
    assert "balances.Transfer" in names(events)
    after_a, after_b = chain.account(ALICE.public), chain.account(BOB.public)
    assert after_b.free == before_b.free + 5 * UNIT
    fee = before_a.free - 5 * UNIT - after_a.free
    assert fee > 0
    assert after_a.nonce == before_a.nonce + 1


def test_fees_go_to_treasury_and_tips_to_author() -> None:
    chain = TestChain()
    chain.author = BOB.public
    eco = chain.account(treasury.ECOSYSTEM).free
    bob = chain.account(BOB.public).free
    alice = chain.account(ALICE.public).free
    chain.call(ALICE, "balances", "transfer", tip=7, to=ALICE.public, amount=0)
    paid = alice - chain.account(ALICE.public).free
    assert chain.account(BOB.public).free == bob + 7
    assert chain.account(treasury.ECOSYSTEM).free == eco + paid - 7


def test_insufficient_balance_fails_but_pays_fee() -> None:
    chain = TestChain()
    before = chain.account(ALICE.public)
    events = chain.call(ALICE, "balances", "transfer", to=BOB.public, amount=before.free)
    assert failed(events) == "balances.InsufficientBalance"
    after = chain.account(ALICE.public)
    assert after.free < before.free and after.nonce == before.nonce + 1


def test_transfer_below_existential_deposit_to_new_account_fails() -> None:
    chain = TestChain()
    fresh = Keypair.generate().public
    ed = chain.params.existential_deposit
    events = chain.call(ALICE, "balances", "transfer", to=fresh, amount=ed - 1)
    assert failed(events) == "balances.ExistentialDeposit"
    assert not balances.exists(chain.state, fresh)


def _fee(events: list[Event]) -> int:
    return next(
        int(e.data["fee"])
        for e in events
        if e.name in ("ExtrinsicSuccess", "ExtrinsicFailed") and "fee" in e.data
    )


def test_keep_alive_refuses_to_reap_and_plain_transfer_reaps_and_burns_dust() -> None:
    chain = TestChain()
    poor = Keypair.generate()
    ed = chain.params.existential_deposit
    chain.call(ALICE, "balances", "transfer", to=poor.public, amount=UNIT)
    assert chain.account(poor.public).nonce == chain.head.number * NONCE_EPOCH
    probe = chain.call(poor, "balances", "transfer_keep_alive", to=BOB.public, amount=1)
    fee = _fee(probe)
    free = chain.account(poor.public).free
    amount = free - fee - ed // 2  # would leave half the existential deposit
    events = chain.call(poor, "balances", "transfer_keep_alive", to=BOB.public, amount=amount)
    assert failed(events) == "balances.KeepAlive"
    free = chain.account(poor.public).free
    burned = balances.Burned.get(chain.state)
    events = chain.call(poor, "balances", "transfer", to=BOB.public, amount=free - fee - ed // 2)
    assert failed(events) is None
    assert "balances.Reaped" in names(events)
    assert not balances.exists(chain.state, poor.public)
    assert 0 < balances.Burned.get(chain.state) - burned < ed


def test_reaped_account_cannot_replay_old_transactions() -> None:
    chain = TestChain()
    user = Keypair.generate()
    chain.call(ALICE, "balances", "transfer", to=user.public, amount=UNIT)
    first_nonce = chain.nonce(user.public)
    old = chain.sign(user, "balances", "transfer", to=BOB.public, amount=1)
    chain.produce([old])
    # drain and reap, then fund again
    left = chain.account(user.public).free
    chain.call(user, "balances", "transfer", to=BOB.public, amount=left - UNIT // 100)
    assert not balances.exists(chain.state, user.public)
    chain.call(ALICE, "balances", "transfer", to=user.public, amount=UNIT)
    assert chain.nonce(user.public) > first_nonce + 2
    built = chain.produce([old])
    assert built.rejected and "Stale" in built.rejected[0][1]


def test_bad_arguments_and_unknown_calls_fail_cleanly() -> None:
    chain = TestChain()
    assert failed(chain.call(ALICE, "balances", "transfer", to=b"short", amount=1)) == "system.BadArguments"
    assert (
        failed(chain.call(ALICE, "balances", "transfer", to=BOB.public, amount=-1)) == "system.BadArguments"
    )
    assert failed(chain.call(ALICE, "balances", "transfer", to=BOB.public)) == "system.BadArguments"
    assert failed(chain.call(ALICE, "balances", "nope")) == "system.UnknownCall"


def test_mint_refuses_to_pass_the_cap() -> None:
    from runtime.constants import CAP
    from runtime.errors import DispatchError

    chain = TestChain(replicate=False)
    ctx = chain.ctx()
    room = CAP - balances.Minted.get(chain.state)
    balances.mint(ctx, BOB.public, room)
    try:
        balances.mint(ctx, BOB.public, 1)
    except DispatchError as err:
        assert err.error == "CapExceeded"
    else:
        raise AssertionError("minted past the cap")
    assert balances.Minted.get(chain.state) == CAP


def test_unreserve_more_than_reserved_is_refused() -> None:
    from runtime.errors import DispatchError

    chain = TestChain(replicate=False)
    ctx = chain.ctx()
    balances.reserve(ctx, BOB.public, 10)
    try:
        balances.unreserve(ctx, BOB.public, 11)
    except DispatchError as err:
        assert err.error == "InsufficientReserved"
    else:
        raise AssertionError("unreserved more than reserved")
    assert balances.take_reserved(ctx, BOB.public, 11) == 10
