"""What an exception the runtime does not declare does to the block.

A call fails the declared way by raising a pallet's error (a
`DispatchError`): the extrinsic pays its fee, changes nothing else, and a
`system.ExtrinsicFailed` event says why; an extrinsic that cannot be
included raises `InvalidTransaction`. The executive catches only those.
Any other exception out of an extrinsic (a `ZeroDivisionError`, a
`KeyError`) is a bug of the runtime, and the executive lets it through to
the guard of its caller, here:

- importing a block (`importing`): the block is rejected with `RuntimeBug`,
  an `InvalidBlock` that names the extrinsic's index and hash. The runtime
  is deterministic, so every honest node running it raises the same
  exception on the same block and rejects it alike; no honest author
  produces such a block, because
- authoring a block (`authoring`): the extrinsic is left out, with all it
  did undone (its fee and nonce too), and reported to the caller, who drops
  it from the pool, logs its hash and counts it (`BuiltBlock.bugs`). The
  block goes on with the next candidate.

`MemoryError`, `RecursionError` and `MissingNode` are never judged: they
depend on the machine (memory, stack depth, the state it still keeps), not
on the block, and judging them would
make nodes disagree. They propagate unchanged, as does any exception out of
a block hook: the node then fails to build or import that block rather than
blaming it or its sender.
"""

from collections.abc import Callable

from runtime.context import Ctx
from runtime.errors import InvalidBlock, InvalidTransaction, RuntimeBug
from runtime.merkle import MissingNode
from runtime.types import extrinsic_hash

# Raised for a reason the caller handles (invalid extrinsic or block), or not judged at all.
_PASS_THROUGH = (InvalidTransaction, InvalidBlock, MemoryError, RecursionError, MissingNode)


def importing(index: int, raw: bytes, apply: Callable[[], None]) -> None:
    """Apply the block's extrinsic `index`; a runtime bug rejects the block."""
    try:
        apply()
    except _PASS_THROUGH:
        raise
    except Exception as exc:
        raise RuntimeBug(index, extrinsic_hash(raw), repr(exc)) from exc


def authoring(ctx: Ctx, apply: Callable[[], None]) -> str | None:
    """Apply a candidate extrinsic; on a runtime bug undo everything it did
    and return `repr` of the exception, else None."""
    depth, mark = ctx.state.depth, len(ctx.events)
    saved = (ctx.base_fees, ctx.tips, ctx.weight)
    ctx.state.begin()
    try:
        apply()
    except _PASS_THROUGH:
        _unwind(ctx, depth)
        raise
    except Exception as exc:
        _unwind(ctx, depth)
        ctx.base_fees, ctx.tips, ctx.weight = saved
        del ctx.events[mark:]
        return repr(exc)
    ctx.state.commit()
    return None


def _unwind(ctx: Ctx, depth: int) -> None:
    while ctx.state.depth > depth:
        ctx.state.rollback()
