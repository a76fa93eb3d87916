from hypothesis import given
from hypothesis import strategies as st

from runtime.constants import REWARD_POOL, YEAR1_EMISSION
from runtime.errors import DispatchError
from runtime.pallets import balances, emission
from tests.chain import BOB, CHARLIE, TestChain


def test_annual_schedule_decays_15_percent_and_sums_to_the_pool() -> None:
    assert emission.annual_emission(0) == YEAR1_EMISSION
    assert emission.annual_emission(1) == YEAR1_EMISSION * 85 // 100
    total = sum(emission.annual_emission(y) for y in range(400))
    assert total <= REWARD_POOL
    assert REWARD_POOL - total < REWARD_POOL // 10**6  # the series converges to the pool


@given(st.integers(min_value=1, max_value=10**7), st.integers(min_value=1, max_value=10**6))
def test_block_emission_never_exceeds_its_years_share(number: int, bpy: int) -> None:
    year = (number - 1) // bpy
    assert emission.block_emission(number, bpy) * bpy <= emission.annual_emission(year)


def test_block_without_work_keeps_emission_in_the_pool() -> None:
    chain = TestChain()
    chain.advance_to(5)
    assert emission.Pool.get(chain.state) == REWARD_POOL
    assert emission.Paid.get(chain.state) == 0


def test_reported_work_is_paid_pro_rata_and_leaves_pool_consistent() -> None:
    chain = TestChain()
    ctx = chain.ctx()
    emission.report_work(ctx, BOB.public, 3)
    emission.report_work(ctx, CHARLIE.public, 1)
    emission.report_work(ctx, BOB.public, 0 + 1 - 1 + 1)  # accumulates: bob 4
    bob, charlie = chain.account(BOB.public).free, chain.account(CHARLIE.public).free
    minted = balances.Minted.get(chain.state)
    emission.on_finalize(ctx)
    release = emission.block_emission(ctx.number, chain.params.blocks_per_year)
    paid_bob = chain.account(BOB.public).free - bob
    paid_charlie = chain.account(CHARLIE.public).free - charlie
    assert paid_bob == release * 4 // 5 and paid_charlie == release // 5
    assert balances.Minted.get(chain.state) == minted + paid_bob + paid_charlie
    assert emission.Pool.get(chain.state) == REWARD_POOL - paid_bob - paid_charlie
    assert emission.BlockWork.get(chain.state) == {}


def test_report_work_rejects_nonpositive_units() -> None:
    chain = TestChain()
    ctx = chain.ctx()
    try:
        emission.report_work(ctx, BOB.public, 0)
    except DispatchError as err:
        assert err.error == "NoWork"
    else:
        raise AssertionError("zero work accepted")


def test_empty_pool_pays_nothing() -> None:
    chain = TestChain()
    ctx = chain.ctx()
    emission.Pool.put(chain.state, 0)
    emission.report_work(ctx, BOB.public, 10)
    bob = chain.account(BOB.public).free
    emission.on_finalize(ctx)
    assert chain.account(BOB.public).free == bob


def test_emission_is_already_zero_where_the_shortcut_starts() -> None:
    assert emission.annual_emission(emission.LAST_EMITTING_YEAR) == 0
    assert emission.annual_emission(emission.LAST_EMITTING_YEAR + 1) == 0
    assert all(emission.annual_emission(y) == 0 for y in range(240, emission.LAST_EMITTING_YEAR))
    assert emission.annual_emission(239) > 0
