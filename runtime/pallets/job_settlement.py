"""Moving a job's reserved fee: the refund and the settlement split.

Settlement takes the reserved `max_fee`, returns what the job did not cost,
burns `burn_rate_ppm` of the fee, splits `verifier_share_ppm` among the
verifiers who re-executed it (to the treasury when none did, and the
rounding remainder too), pays the rest to the provider and reports its work
units to emission. Every base unit taken is deposited or
burned, so the supply invariant holds.
"""

from runtime.constants import ppm_of
from runtime.context import Ctx
from runtime.pallets import balances, emission, treasury


def refund(ctx: Ctx, submitter: bytes, reserved: int) -> None:
    balances.deposit(ctx, submitter, balances.take_reserved(ctx, submitter, reserved))


def settle(
    ctx: Ctx, submitter: bytes, provider: bytes, reserved: int, fee: int, units: int,
    verifiers: tuple[bytes, ...] = (),
) -> int:  # fmt: skip
    """Pay for a finished job; returns the fee charged."""
    taken = balances.take_reserved(ctx, submitter, reserved)
    fee = min(fee, taken)
    burned = ppm_of(fee, ctx.params.burn_rate_ppm)
    verifier_cut = ppm_of(fee, ctx.params.verifier_share_ppm)
    balances.deposit(ctx, submitter, taken - fee)
    balances.deposit(ctx, provider, fee - burned - verifier_cut)
    balances.burn(ctx, burned)
    each = verifier_cut // len(verifiers) if verifiers else 0
    for verifier in verifiers:
        balances.deposit(ctx, verifier, each)
    treasury.receive(ctx, verifier_cut - each * len(verifiers), "verifier share")
    if units > 0:
        emission.report_work(ctx, provider, units)
    return fee
