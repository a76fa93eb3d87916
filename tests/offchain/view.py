"""A worker's ChainView over a TestChain: what it submits waits in `sent`
until the test builds the next block with it."""

from runtime.crypto import Keypair
from runtime.state import State
from runtime.types import Call, Extrinsic
from tests.chain import TestChain


class ChainOfTest:
    def __init__(self, chain: TestChain, key: Keypair) -> None:
        self.chain, self.key, self.account = chain, key, key.public
        self.sent: list[bytes] = []
        self.pending: dict[bytes, int] = {}
        self.wanted: list[bytes] = []

    def state(self) -> State:
        return self.chain.state

    def best_number(self) -> int:
        return self.chain.head.number

    def submit_call(self, call: Call) -> bytes:
        return self.submit_call_as(self.key, call)

    def submit_call_as(self, key: Keypair, call: Call) -> bytes:
        nonce = self.chain.nonce(key.public) + self.pending.get(key.public, 0)
        self.pending[key.public] = self.pending.get(key.public, 0) + 1
        self.sent.append(Extrinsic.sign(key, self.chain.chain_id, nonce, call).encode())
        return b""

    def want_blob(self, digest: bytes, max_size: int = 1 << 26) -> None:
        self.wanted.append(digest)

    def flush(self) -> None:
        """Build the next block with everything sent so far."""
        built = self.chain.produce(self.sent)
        assert not built.rejected, built.rejected
        self.sent, self.pending = [], {}
