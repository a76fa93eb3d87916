from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nodeproc import NodeProcess, fast_dev_spec


@pytest.fixture
def dev_node(tmp_path: Path) -> Iterator[NodeProcess]:
    node = NodeProcess(tmp_path / "node", fast_dev_spec(tmp_path / "spec.json")).start()
    try:
        yield node
    finally:
        node.stop()


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
