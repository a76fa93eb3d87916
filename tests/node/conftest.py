import pytest


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The signers of every signature the transaction checks verify, in order."""
    import runtime.executive
    from runtime.crypto import verify

    checks: list[bytes] = []

    def counting(public: bytes, message: bytes, signature: bytes) -> bool:
        checks.append(public)
        return verify(public, message, signature)

    monkeypatch.setattr(runtime.executive, "verify", counting)
    return checks
