"""The fork-choice rule itself (`consensus.fork_choice`): the longest head
holding the highest justified block, the lowest hash among equals, the
lowest hash among equally high justified blocks; deterministic in any order."""

from hypothesis import given
from hypothesis import strategies as st

from consensus.finality import Checkpoint
from consensus.fork_choice import better_head, choose_head, head_key, higher_justified
from runtime.types import Header


def header(number: int, parent: bytes = b"\x00" * 32, slot: int | None = None) -> Header:
    return Header(parent, number, b"\x00" * 32, b"\x00" * 32, number if slot is None else slot, b"\x00" * 32)


def test_a_shorter_head_holding_the_justified_block_beats_a_longer_one_without() -> None:
    short, long = header(5, b"\x01" * 32), header(9, b"\x02" * 32)
    holds = {short.hash}
    assert choose_head([long, short], lambda h: h.hash in holds) == short
    assert choose_head([long, short], lambda h: True) == long
    assert choose_head([long, short], lambda h: False) is None


def test_equally_long_heads_tie_break_on_the_lowest_hash() -> None:
    a, b = header(7, b"\x01" * 32), header(7, b"\x02" * 32)
    lowest = min(a, b, key=lambda h: h.hash)
    assert choose_head([a, b], lambda h: True) == choose_head([b, a], lambda h: True) == lowest
    assert better_head(lowest, max(a, b, key=lambda h: h.hash))
    assert not better_head(a, a)  # a head never beats itself: no needless reorg
    assert better_head(header(8), header(7, b"\x03" * 32))


def test_the_highest_justified_block_then_the_lowest_hash_is_followed() -> None:
    low, high = Checkpoint(3, b"\x09" * 32), Checkpoint(4, b"\xff" * 32)
    assert higher_justified(high, low) and not higher_justified(low, high)
    twin_a, twin_b = Checkpoint(4, b"\x01" * 32), Checkpoint(4, b"\x02" * 32)
    assert higher_justified(twin_a, twin_b) and not higher_justified(twin_b, twin_a)
    assert not higher_justified(high, high)


@given(st.lists(st.tuples(st.integers(0, 6), st.binary(min_size=32, max_size=32)), min_size=1, max_size=12))
def test_the_choice_does_not_depend_on_the_order_heads_are_known(heads: list[tuple[int, bytes]]) -> None:
    headers = [header(n, parent) for n, parent in heads]
    chosen = choose_head(headers, lambda h: True)
    assert chosen == choose_head(list(reversed(headers)), lambda h: True)
    assert chosen is not None and all(not better_head(h, chosen) for h in headers)
    assert head_key(chosen) == min(head_key(h) for h in headers)
