from runtime.constants import ECOSYSTEM_ALLOCATION, RESERVE_ALLOCATION
from runtime.errors import DispatchError
from runtime.pallets import treasury
from tests.chain import BOB, TestChain, failed


def test_genesis_allocations() -> None:
    chain = TestChain(replicate=False)
    endowed = sum(v for _, v in chain.spec.endowments)
    assert chain.account(treasury.ECOSYSTEM).free == ECOSYSTEM_ALLOCATION - endowed
    assert chain.account(treasury.RESERVE).free == RESERVE_ALLOCATION


def test_no_call_can_move_treasury_funds() -> None:
    chain = TestChain()
    assert (
        failed(chain.call(BOB, "treasury", "spend", source="reserve", to=BOB.public, amount=1))
        == "system.UnknownCall"
    )


def test_spend_checks_source_and_funds() -> None:
    chain = TestChain(replicate=False)
    for source, amount, error in (
        ("moon", 1, "UnknownSource"),
        ("reserve", RESERVE_ALLOCATION + 1, "InsufficientFunds"),
    ):
        try:
            treasury.spend(chain.ctx(), source, BOB.public, amount)
        except DispatchError as err:
            assert err.error == error
        else:
            raise AssertionError(f"spend from {source} accepted")
    bob = chain.account(BOB.public).free
    treasury.spend(chain.ctx(), "ecosystem", BOB.public, 5)
    assert chain.account(BOB.public).free == bob + 5
