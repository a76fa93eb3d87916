"""The executive: initialise a block, apply extrinsics, finalise, and the two
entry points the node uses, `apply_block` and `build_block`. What it runs
per pallet (calls, hooks) comes from the manifest, `runtime.manifest.PALLETS`.

An extrinsic that fails its checks (size, encoding, nonce, fee, signature) is
invalid: it changes nothing. A valid extrinsic always pays its fee and bumps
its nonce; if its call fails with a declared error (`DispatchError`),
everything else it did is rolled back and a `system.ExtrinsicFailed` event
says why. Invalid extrinsics inside a block are skipped with a
`system.ExtrinsicInvalid` event, so `apply_block` never raises on their
account; a block whose own header or limits are wrong raises `InvalidBlock`.

The executive catches nothing else. An exception the runtime does not
declare is a bug, and its policy lives in `runtime.faults`: while importing,
the block is rejected (`RuntimeBug`, an `InvalidBlock` naming the
extrinsic's index and hash), the same way on every node; while authoring,
the extrinsic is left out of the block, undone, and returned in
`BuiltBlock.bugs` for the node to drop from its pool, log and count. An
exception out of a block hook (`on_initialize`, `on_finalize`) propagates:
that block can be neither built nor imported.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

from runtime import faults, migrations
from runtime.codec import CodecError
from runtime.constants import MAX_BLOCK_BYTES, MAX_BLOCK_EXTRINSICS, MAX_EXTRINSIC_BYTES
from runtime.context import Ctx
from runtime.crypto import verify
from runtime.dispatch import dispatch
from runtime.errors import DispatchError, InvalidBlock, Invalidity, InvalidTransaction
from runtime.manifest import CALLS, PALLETS
from runtime.pallets import balances, system, treasury
from runtime.params import Params
from runtime.state import State
from runtime.types import Block, Event, Extrinsic, Header, extrinsics_root
from runtime.weights import DEFAULT_WEIGHT, MAX_BLOCK_WEIGHT, weight_of


class BlockFull(InvalidTransaction):
    """The block has no weight left for this transaction (valid in a later one)."""


@dataclass(frozen=True)
class BlockResult:
    state_root: bytes
    events: tuple[Event, ...]


@dataclass(frozen=True)
class BuiltBlock:
    block: Block
    events: tuple[Event, ...]
    rejected: tuple[tuple[bytes, str], ...]  # (raw, reason): invalid, left out
    bugs: tuple[tuple[bytes, str], ...] = ()  # (raw, repr(exception)): made the runtime raise, left out


@dataclass(frozen=True)
class CheckedTransaction:
    extrinsic: Extrinsic
    fee: int
    account: balances.Account  # the signer's account as checked, reused to charge the fee
    weight: int = DEFAULT_WEIGHT


def initialize(state: State, number: int, slot: int, author: bytes, parent_hash: bytes) -> Ctx:
    expected = system.Number.get(state) + 1
    if number != expected:
        raise InvalidBlock(f"block number {number}, expected {expected}")
    system.Number.put(state, number)
    migrations.upgrade(state)  # a new build's storage layout, at the same height on every node
    ctx = Ctx(state, number, slot, author, parent_hash, system.ChainId.get(state), system.params(state))
    for pallet in PALLETS:
        if pallet.on_initialize is not None:
            pallet.on_initialize(ctx)
    return ctx


# Extrinsics whose signature the caller verified already (the node's pool
# checked each one it admitted): a signature's validity is a pure function
# of the bytes, so skipping the second check changes no outcome.
Verified = Callable[[bytes], bool] | None


def transaction_fee(params: Params, size: int, weight: int = DEFAULT_WEIGHT) -> int:
    """The base fee for each unit of the call's weight, plus a per-byte fee."""
    return params.tx_base_fee * weight + params.tx_byte_fee * size


def check_transaction(state: State, raw: bytes, allow_future: bool = False) -> CheckedTransaction:
    """Everything short of executing: the transaction pool's entry check."""
    return _check(state, system.ChainId.get(state), system.params(state), raw, allow_future)


def _check(
    state: State, chain_id: bytes, params: Params, raw: bytes, allow_future: bool, verified: Verified = None
) -> CheckedTransaction:
    if len(raw) > MAX_EXTRINSIC_BYTES:
        raise InvalidTransaction(Invalidity.TOO_LARGE, f"{len(raw)} > {MAX_EXTRINSIC_BYTES} bytes")
    try:
        xt = Extrinsic.decode(raw)
    except CodecError as exc:
        raise InvalidTransaction(Invalidity.MALFORMED, str(exc)) from None
    acc = balances.get(state, xt.signer)
    if xt.nonce < acc.nonce:
        raise InvalidTransaction(Invalidity.STALE, f"nonce {xt.nonce} already used (next is {acc.nonce})")
    if xt.nonce > acc.nonce and not allow_future:
        raise InvalidTransaction(Invalidity.FUTURE, f"nonce {xt.nonce}, next is {acc.nonce}")
    weight = weight_of(xt.call)
    fee = transaction_fee(params, len(raw), weight)
    if acc.free < fee + xt.tip:
        raise InvalidTransaction(Invalidity.PAYMENT, f"fee {fee + xt.tip} > free {acc.free}")
    if verified is None or not verified(raw):
        payload = Extrinsic.signing_payload(chain_id, xt.signer, xt.nonce, xt.tip, xt.call)
        if not verify(xt.signer, payload, xt.signature):
            raise InvalidTransaction(Invalidity.BAD_PROOF)
    return CheckedTransaction(xt, fee, acc, weight)


def apply_extrinsic(ctx: Ctx, raw: bytes, verified: Verified = None) -> None:
    checked = _check(ctx.state, ctx.chain_id, ctx.params, raw, allow_future=False, verified=verified)
    if ctx.weight + checked.weight > MAX_BLOCK_WEIGHT:
        raise BlockFull(Invalidity.EXHAUSTS_RESOURCES, f"the block's weight would exceed {MAX_BLOCK_WEIGHT}")
    ctx.weight += checked.weight
    xt = checked.extrinsic
    balances.charge_fee(ctx, xt.signer, checked.account, checked.fee, xt.tip)
    mark = len(ctx.events)
    ctx.state.begin()
    try:
        dispatch(CALLS, ctx, xt.signer, xt.call.pallet, xt.call.name, xt.call.args)
    except DispatchError as err:
        ctx.state.rollback()
        del ctx.events[mark:]
        error = f"{err.pallet}.{err.error}"
        ctx.emit(system.Event.ExtrinsicFailed, error=error, detail=err.detail, fee=checked.fee + xt.tip)
    else:
        ctx.state.commit()
        ctx.emit(system.Event.ExtrinsicSuccess, fee=checked.fee + xt.tip)


def finalize(ctx: Ctx) -> bytes:
    """Pay out the block's fees (base fees to the treasury, tips to the
    author), then run every pallet's `on_finalize` in the manifest's order."""
    ctx.extrinsic_index = None
    treasury.receive(ctx, ctx.base_fees, "fees")
    balances.deposit(ctx, ctx.author, ctx.tips)
    for pallet in PALLETS:
        if pallet.on_finalize is not None:
            pallet.on_finalize(ctx)
    return ctx.state.commit_block()


def _check_limits(extrinsics: tuple[bytes, ...] | list[bytes]) -> None:
    if len(extrinsics) > MAX_BLOCK_EXTRINSICS:
        raise InvalidBlock(f"{len(extrinsics)} extrinsics > {MAX_BLOCK_EXTRINSICS}")
    if sum(len(raw) for raw in extrinsics) > MAX_BLOCK_BYTES:
        raise InvalidBlock(f"extrinsics exceed {MAX_BLOCK_BYTES} bytes")


def apply_block(state: State, block: Block, verified: Verified = None) -> BlockResult:
    """Execute `block` on `state` (committing into it); return the post-state
    root and events. The caller compares the root with the header's.
    `verified` names extrinsics whose signatures the caller already checked."""
    header = block.header
    _check_limits(block.extrinsics)
    if extrinsics_root(block.extrinsics) != header.extrinsics_root:
        raise InvalidBlock("extrinsics root mismatch")
    try:
        ctx = initialize(state, header.number, header.slot, header.author, header.parent_hash)
        for index, raw in enumerate(block.extrinsics):
            ctx.extrinsic_index = index
            try:
                faults.importing(index, raw, partial(apply_extrinsic, ctx, raw, verified))
            except BlockFull as exc:
                raise InvalidBlock(str(exc)) from None
            except InvalidTransaction as exc:
                ctx.emit(system.Event.ExtrinsicInvalid, reason=exc.reason)
        root = finalize(ctx)
    except BaseException:
        state.discard()
        raise
    return BlockResult(root, tuple(ctx.events))


def build_block(
    state: State,
    parent_hash: bytes,
    slot: int,
    author: bytes,
    candidates: Iterable[bytes],
    max_bytes: int = MAX_BLOCK_BYTES,
    max_extrinsics: int = MAX_BLOCK_EXTRINSICS,
    verified: Verified = None,
) -> BuiltBlock:
    """Build the next block on `state` from candidate extrinsics, in order;
    invalid ones are left out and reported in `rejected`, and those that
    made the runtime raise (see `runtime.faults`) in `bugs`."""
    number = system.Number.get(state) + 1
    try:
        ctx = initialize(state, number, slot, author, parent_hash)
        included: list[bytes] = []
        rejected: list[tuple[bytes, str]] = []
        bugs: list[tuple[bytes, str]] = []
        size = 0
        for raw in candidates:
            if len(included) >= max_extrinsics or size + len(raw) > max_bytes:
                break
            ctx.extrinsic_index = len(included)
            try:
                bug = faults.authoring(ctx, partial(apply_extrinsic, ctx, raw, verified))
            except BlockFull:
                break  # the rest waits for the next block
            except InvalidTransaction as exc:
                rejected.append((raw, exc.reason))
                continue
            if bug is not None:
                bugs.append((raw, bug))
                continue
            included.append(raw)
            size += len(raw)
        root = finalize(ctx)
    except BaseException:
        state.discard()
        raise
    header = Header(parent_hash, number, root, extrinsics_root(included), slot, author)
    return BuiltBlock(Block(header, tuple(included)), tuple(ctx.events), tuple(rejected), tuple(bugs))
