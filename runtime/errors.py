"""Errors a call may fail with. A failed call pays its fee and changes nothing else."""

from enum import StrEnum


class DispatchError(Exception):
    """`pallet.error`: a reason a call failed, shown to the user as-is."""

    def __init__(self, pallet: str, error: str, detail: str = "") -> None:
        super().__init__(f"{pallet}.{error}" + (f": {detail}" if detail else ""))
        self.pallet = pallet
        self.error = error
        self.detail = detail


class InvalidBlock(Exception):
    """A block no node may import (wrong number, roots, limits)."""


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


def pallet_errors(pallet: str) -> type[DispatchError]:
    """A DispatchError subclass bound to one pallet: `raise Error("Name")`."""

    class PalletError(DispatchError):
        def __init__(self, error: str, detail: str = "") -> None:
            super().__init__(pallet, error, detail)

    PalletError.__name__ = f"{pallet.title()}Error"
    return PalletError
