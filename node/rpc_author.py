"""The `author_` RPC namespace: submitting transactions and listing the pool."""

from typing import Any

from node.abc import AuthorHost
from node.jsonfmt import hex0x, parse_hex
from node.rpc import TX_ALREADY_IMPORTED, TX_INVALID, TX_PRIORITY_TOO_LOW, RpcError, params_between
from node.rpc_namespace import Namespace, rpc
from node.rpc_paging import cursor_id, page_size, take
from node.txpool import PoolError, Rejection
from runtime.constants import MAX_EXTRINSIC_BYTES

# Substrate's author_submitExtrinsic codes, by the pool's reason.
POOL_CODES = {
    Rejection.ALREADY_IN_POOL: TX_ALREADY_IMPORTED,
    Rejection.UNDERPRICED: TX_PRIORITY_TOO_LOW,
    Rejection.POOL_FULL: TX_PRIORITY_TOO_LOW,
}


class AuthorRpc(Namespace):
    prefix = "author"

    def __init__(self, node: AuthorHost) -> None:
        self.node = node

    @rpc("author_submitExtrinsic")
    def submit_extrinsic(self, params: list[Any]) -> Any:
        (raw_hex,) = params_between(params, 1, 1)
        if not isinstance(raw_hex, str) or len(raw_hex) > 2 * MAX_EXTRINSIC_BYTES + 2:
            raise RpcError(TX_INVALID, "Invalid transaction: ExtrinsicTooLarge")
        raw = parse_hex(raw_hex)
        try:
            return hex0x(self.node.submit_extrinsic(raw))
        except PoolError as err:
            code = POOL_CODES.get(err.kind, TX_INVALID)
            raise RpcError(code, f"Invalid transaction: {err.reason}") from None

    @rpc("author_pendingExtrinsics")
    def pending_extrinsics(self, params: list[Any]) -> Any:
        """`[count?, start?]`: the pool in (sender, nonce) order from offset
        `start`; the pool holds megabytes, so a page is bounded in bytes too."""
        count, start = params_between(params, 0, 2)
        size, offset = page_size(count), cursor_id(start) or 0
        page = take(self.node.pool.pending()[offset:], size, lambda tx: len(tx.raw))
        return [hex0x(tx.raw) for tx in page]
