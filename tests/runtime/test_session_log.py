"""The session request log: every leaf's proof checks against the root of the
log it came from, and nothing else does."""

from hypothesis import given
from hypothesis import strategies as st

from runtime.codec import blake2b_256, merkle_root
from runtime.session_log import leaf, proof, root, verify_proof


def _leaves(n: int) -> list[bytes]:
    return [leaf(i + 1, blake2b_256(b"q%d" % i), blake2b_256(b"r%d" % i), i + 3) for i in range(n)]


def test_leaf_binds_every_field() -> None:
    base = leaf(1, b"\x01" * 32, b"\x02" * 32, 5)
    assert base != leaf(2, b"\x01" * 32, b"\x02" * 32, 5)
    assert base != leaf(1, b"\x03" * 32, b"\x02" * 32, 5)
    assert base != leaf(1, b"\x01" * 32, b"\x03" * 32, 5)
    assert base != leaf(1, b"\x01" * 32, b"\x02" * 32, 6)


def test_root_is_the_chains_merkle_root() -> None:
    items = _leaves(7)
    assert root(items) == merkle_root(items)


@given(st.integers(1, 70), st.data())
def test_every_leaf_proves_and_a_wrong_one_does_not(count: int, data: st.DataObject) -> None:
    items = _leaves(count)
    log_root = root(items)
    index = data.draw(st.integers(0, count - 1))
    path = proof(items, index)
    assert verify_proof(log_root, items[index], index, count, path)
    other = data.draw(st.integers(0, count - 1))
    if items[other] != items[index]:
        assert not verify_proof(log_root, items[other], index, count, path)
    if count > 1:
        assert not verify_proof(log_root, items[index], (index + 1) % count, count, path)
    assert not verify_proof(log_root, items[index], index, count, [*path, b"\x00" * 32])
    assert not verify_proof(log_root, items[index], count, count, path)
