from runtime.constants import ECOSYSTEM_ALLOCATION, RESERVE_ALLOCATION
from runtime.context import Ctx
from runtime.errors import DispatchError
from runtime.pallets import treasury
from tests.chain import BOB, TestChain, failed


def _ctx(chain: TestChain) -> Ctx:
    number = chain.head.number + 1
    return Ctx(chain.state, number, number, b"\x00" * 32, b"\x00" * 32, chain.chain_id, chain.params)


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
            treasury.spend(_ctx(chain), source, BOB.public, amount)
        except DispatchError as err:
            assert err.error == error
        else:
            raise AssertionError(f"spend from {source} accepted")
    bob = chain.account(BOB.public).free
    treasury.spend(_ctx(chain), "ecosystem", BOB.public, 5)
    assert chain.account(BOB.public).free == bob + 5
