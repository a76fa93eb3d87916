import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.codec import CodecError, decode, encode, merkle_root

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@given(values)
def test_roundtrip_is_canonical(value: object) -> None:
    data = encode(value)
    assert encode(decode(data)) == data


def test_map_keys_are_sorted_whatever_the_insertion_order() -> None:
    assert encode({"b": 1, "a": 2}) == encode({"a": 2, "b": 1})


@pytest.mark.parametrize(
    "bad",
    [1.5, {"a": 0.1}, [float("nan")], 2**64, -(2**63) - 1, object(), {1.0: 1}, {1: 1, "a": 2}],
)
def test_refuses_what_has_no_canonical_form(bad: object) -> None:
    with pytest.raises(CodecError):
        encode(bad)


def test_decode_refuses_floats_trailing_bytes_and_non_minimal_ints() -> None:
    import msgpack

    with pytest.raises(CodecError):
        decode(msgpack.packb(1.5))
    with pytest.raises(CodecError):
        decode(encode(1) + b"\x00")
    with pytest.raises(CodecError):
        decode(b"\xcd\x00\x01")  # 1 as uint16: not minimal
    with pytest.raises(CodecError):
        decode(b"\x82\xa1b\x01\xa1a\x02")  # unsorted map
    with pytest.raises(CodecError):
        decode(b"\xc1")
    with pytest.raises(CodecError):
        decode(b"x" * 100, max_len=10)


@given(st.binary(max_size=200))
def test_decode_never_raises_anything_but_codec_error(data: bytes) -> None:
    with contextlib.suppress(CodecError):
        decode(data)


def test_merkle_root_depends_on_order_and_content() -> None:
    a, b = b"\x01" * 32, b"\x02" * 32
    assert merkle_root([]) == b"\x00" * 32
    assert merkle_root([a, b]) != merkle_root([b, a])
    assert merkle_root([a]) != merkle_root([a, a])
    assert merkle_root([a, b, a]) != merkle_root([a, b])
