import pytest

from runtime.codec import CodecError, encode
from runtime.crypto import Keypair
from runtime.types import Block, Call, Extrinsic, Header


def test_extrinsic_roundtrip() -> None:
    key = Keypair.generate()
    xt = Extrinsic.sign(
        key, b"\x01" * 32, 3, Call("balances", "transfer", {"to": key.public, "amount": 5}), tip=2
    )
    assert Extrinsic.decode(xt.encode()) == xt


@pytest.mark.parametrize(
    "wire",
    [
        [],
        [b"x" * 31, 0, 0, ["a", "b", {}], b"s" * 64],
        [b"x" * 32, -1, 0, ["a", "b", {}], b"s" * 64],
        [b"x" * 32, 0, 0, ["a", "b"], b"s" * 64],
        [b"x" * 32, 0, 0, ["", "b", {}], b"s" * 64],
        [b"x" * 32, 0, 0, ["a", "b", {1: 2}], b"s" * 64],
        [b"x" * 32, 0, 0, ["a", "b", {}], b"s" * 63],
        {"a": 1},
    ],
)
def test_malformed_extrinsics_are_refused(wire: object) -> None:
    with pytest.raises(CodecError):
        Extrinsic.decode(encode(wire))


def test_block_roundtrip_and_hash_covers_the_header() -> None:
    header = Header(b"\x01" * 32, 1, b"\x02" * 32, b"\x03" * 32, 4, b"\x05" * 32)
    block = Block(header, (b"a", b"b"), b"\x06" * 64)
    assert Block.decode(block.encode()) == block
    assert block.hash == header.hash
    with pytest.raises(CodecError):
        Block.decode(encode([header.to_wire(), [1], b""]))
    with pytest.raises(CodecError):
        Block.decode(encode([header.to_wire()[:5], [], b""]))
