"""A session's request log: one leaf per served request, and the Merkle
root the provider settles (`sessions.settle{log_root, count, ...}`).

    leaf = blake2b-256(seq (8 bytes) || request hash || result hash || units (8 bytes))

`units` is the request's own work units (not the cheque's cumulative
count), so a sampled leaf says what that one request cost. The root is
`runtime.codec.merkle_root` over all leaves so far (odd nodes promoted);
`proof` and `verify_proof` let the provider show one sampled leaf against a
settled root without the others.
"""

from collections.abc import Sequence

from runtime.codec import ZERO_HASH, blake2b_256, merkle_root

LEAF_DOMAIN = b"\x00"
NODE_DOMAIN = b"\x01"
MAX_PROOF_DEPTH = 64


def leaf(seq: int, request_hash: bytes, result_hash: bytes, units: int) -> bytes:
    if len(request_hash) != 32 or len(result_hash) != 32:
        raise ValueError("a leaf names its request and result by 32-byte hashes")
    return blake2b_256(seq.to_bytes(8, "big") + request_hash + result_hash + units.to_bytes(8, "big"))


def root(leaves: Sequence[bytes]) -> bytes:
    return merkle_root(leaves)


def _pair(left: bytes, right: bytes) -> bytes:
    return blake2b_256(NODE_DOMAIN + left + right)


def proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The sibling hashes from leaf `index` up to the root of `leaves` (a
    promoted odd node has no sibling at its level: nothing is added)."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} of {len(leaves)}")
    level = [blake2b_256(LEAF_DOMAIN + item) for item in leaves]
    path: list[bytes] = []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        nxt = [_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level, index = nxt, index // 2
    return path


def verify_proof(log_root: bytes, item: bytes, index: int, count: int, path: Sequence[bytes]) -> bool:
    """Whether `item` is leaf `index` of a log of `count` leaves whose root is `log_root`."""
    if not 0 <= index < count or len(path) > MAX_PROOF_DEPTH or len(item) != 32:
        return False
    if count == 0:
        return log_root == ZERO_HASH
    node, width, used = blake2b_256(LEAF_DOMAIN + item), count, 0
    while width > 1:
        sibling = index ^ 1
        if sibling < width:
            if used >= len(path) or len(path[used]) != 32:
                return False
            node = _pair(node, path[used]) if index % 2 == 0 else _pair(path[used], node)
            used += 1
        index, width = index // 2, (width + 1) // 2
    return used == len(path) and node == log_root
