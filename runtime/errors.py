"""Errors a call may fail with. A failed call pays its fee and changes nothing else."""

from enum import StrEnum

from runtime.types import PalletEnum


class DispatchError(Exception):
    """`pallet.error`: a reason a call failed, shown to the user as-is."""

    def __init__(self, pallet: str, error: str, detail: str = "") -> None:
        super().__init__(f"{pallet}.{error}" + (f": {detail}" if detail else ""))
        self.pallet = pallet
        self.error = error
        self.detail = detail


class InvalidBlock(Exception):
    """A block no node may import (wrong number, roots, limits)."""


class RuntimeBug(InvalidBlock):
    """A block with an extrinsic that made the runtime raise an exception it
    does not declare (see `runtime.faults`): rejected alike by every node."""

    def __init__(self, index: int, extrinsic_hash: bytes, error: str) -> None:
        super().__init__(f"extrinsic {index} ({extrinsic_hash.hex()}) made the runtime fail: {error}")
        self.index = index
        self.extrinsic_hash = extrinsic_hash
        self.error = error


class Invalidity(StrEnum):
    """Why an extrinsic cannot be included (Substrate's `InvalidTransaction`)."""

    TOO_LARGE = "ExtrinsicTooLarge"
    MALFORMED = "Malformed"
    STALE = "Stale"  # its nonce was used
    FUTURE = "Future"  # its nonce is ahead of the sender's
    PAYMENT = "CannotPayFee"
    BAD_PROOF = "BadSignature"
    EXHAUSTS_RESOURCES = "ExhaustsResources"  # no weight left in this block; valid in a later one


class InvalidTransaction(Exception):
    """An extrinsic that cannot be included at all (bad signature, nonce,
    unaffordable fee, malformed). Never changes state."""

    def __init__(self, kind: Invalidity, detail: str = "") -> None:
        self.kind = kind
        self.reason = f"{kind}: {detail}" if detail else str(kind)
        super().__init__(self.reason)


class PalletError(PalletEnum):
    """A pallet's errors, declared in one place (FRAME's `#[pallet::error]`):

        class Error(PalletError, pallet=PALLET):
            InsufficientBalance = auto()

    `raise Error.InsufficientBalance("free 1 < 2")` fails the call with
    `balances.InsufficientBalance`."""

    def __call__(self, detail: str = "") -> DispatchError:
        return DispatchError(self.pallet, self.value, detail)
