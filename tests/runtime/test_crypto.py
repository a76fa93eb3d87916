import pytest

from runtime.codec import blake2b_256
from runtime.crypto import (
    AddressError,
    Keypair,
    derived_account,
    dev_keypair,
    from_address,
    to_address,
    verify,
)


def test_dev_keys_follow_the_contract() -> None:
    alice = dev_keypair("//alice")
    assert alice.seed == blake2b_256(b"vcoin-dev//alice")
    assert dev_keypair("alice") == alice
    assert dev_keypair("bob").public != alice.public


def test_sign_and_verify() -> None:
    key = Keypair.generate()
    sig = key.sign(b"hello")
    assert verify(key.public, b"hello", sig)
    assert not verify(key.public, b"hellO", sig)
    assert not verify(Keypair.generate().public, b"hello", sig)
    assert not verify(key.public[:31], b"hello", sig)
    assert not verify(key.public, b"hello", sig[:63])
    assert not verify(b"\xff" * 32, b"hello", sig)


def test_address_roundtrip_and_checksum() -> None:
    key = Keypair.generate()
    text = to_address(key.public)
    assert text.startswith("vc1") and key.address == text
    assert from_address(text) == key.public
    flipped = text[:-1] + ("a" if text[-1] != "a" else "b")
    for bad in (flipped, "vc2" + text[3:], text[:-2], "vc1!!!!", ""):
        with pytest.raises(AddressError):
            from_address(bad)


def test_module_accounts_are_distinct_hashes() -> None:
    assert derived_account("a") != derived_account("b")
    assert len(derived_account("a")) == 32


def test_seed_length_is_checked() -> None:
    with pytest.raises(ValueError):
        Keypair(b"short")
