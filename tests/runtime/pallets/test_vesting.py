from runtime.constants import TEAM_ALLOCATION
from runtime.pallets import vesting
from runtime.pallets.vesting import Schedule
from tests.chain import TestChain


def test_schedule_is_linear_with_cliff() -> None:
    s = Schedule(total=1_000, start=10, cliff=5, duration=100)
    assert s.vested_at(10) == 0
    assert s.vested_at(14) == 0
    assert s.vested_at(15) == 50
    assert s.vested_at(60) == 500
    assert s.vested_at(110) == 1_000
    assert s.vested_at(10_000) == 1_000


def test_team_allocation_starts_locked_and_releases_per_block() -> None:
    chain = TestChain()
    team = chain.spec.team
    acc = chain.account(team)
    assert acc.locked == TEAM_ALLOCATION and acc.free == 0
    duration = chain.params.vesting_duration
    assert duration == chain.params.blocks_per_year * 3  # 36 months
    chain.advance_to(3)
    acc = chain.account(team)
    assert acc.free == TEAM_ALLOCATION * 3 // duration
    assert acc.free + acc.locked == TEAM_ALLOCATION


def test_everything_vests_at_the_end_and_the_schedule_is_removed() -> None:
    chain = TestChain(replicate=False, vesting_duration=4)
    chain.advance_to(5)
    acc = chain.account(chain.spec.team)
    assert acc.locked == 0 and acc.free == TEAM_ALLOCATION
    assert vesting.Vesting.get(chain.state) == ()


def test_cliff_holds_everything_back() -> None:
    chain = TestChain(replicate=False, vesting_cliff=5, vesting_duration=10)
    chain.advance_to(4)
    assert chain.account(chain.spec.team).free == 0
    chain.advance_to(5)
    assert chain.account(chain.spec.team).free == TEAM_ALLOCATION // 2
