"""The provider worker's view of this node: read the best state, submit
calls signed with the node's key (nonces from the pool, so several pending
calls queue up in order). They enter the pool as local transactions, in the
share gossip and RPC floods cannot take: a refused reveal is a slash."""

from node.abc import WorkerHost
from node.blob_exchange import MAX_BLOB_FRAME
from node.txpool import PoolError
from runtime.crypto import Keypair
from runtime.state import State
from runtime.types import Call, Extrinsic


class NodeChainView:
    def __init__(self, node: WorkerHost, key: Keypair) -> None:
        self.node = node
        self.key = key
        self.account = key.public

    def state(self) -> State:
        return self.node.chain.state

    def best_number(self) -> int:
        return self.node.chain.best.number

    def want_blob(self, digest: bytes, max_size: int = MAX_BLOB_FRAME) -> None:
        self.node.want_blob(digest, max_size)

    def submit_call(self, call: Call) -> bytes:
        return self.submit_call_as(self.key, call)

    def submit_call_as(self, key: Keypair, call: Call) -> bytes:
        chain = self.node.chain
        nonce = self.node.pool.next_nonce(chain.state, key.public)
        raw = Extrinsic.sign(key, chain.spec.chain_id, nonce, call).encode()
        try:
            return self.node.submit_extrinsic(raw, local=True)
        except PoolError as exc:
            raise ValueError(str(exc)) from None
