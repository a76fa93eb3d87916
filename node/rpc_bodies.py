"""Block bodies for RPC: a warp-synced node holds headers below its warp
block but no bodies (node.backfill), a node run with --blocks-pruning none
below its window, and each says so instead of failing."""

from node.chain import Chain
from node.rpc import RpcError
from node.rpc_namespace import UNKNOWN_BLOCK
from node.warp_store import warped_from
from runtime.types import Block, Header


def body_of(chain: Chain, header: Header) -> Block:
    block = chain.store.block(header.hash)
    if block is not None:
        return block
    start = warped_from(chain.store)
    if start is not None and header.number < start:
        raise RpcError(UNKNOWN_BLOCK, f"block body not kept: this node warp-synced from #{start}")
    pruned = chain.block_pruner.message(header.number)
    if pruned is not None:
        raise RpcError(UNKNOWN_BLOCK, pruned)
    raise RpcError(UNKNOWN_BLOCK, f"block body of #{header.number} not kept")
