"""Moving a job's reserved fee: the refund and the settlement split.

Settlement takes the reserved `max_fee`, returns what the job did not cost,
burns `burn_rate_ppm` of the fee, sends `verifier_share_ppm` to the treasury
(until the verification pallet pays verifiers), pays the rest to the provider
and reports its work units to emission. Every base unit taken is deposited or
burned, so the supply invariant holds.
"""

from runtime.constants import ppm_of
from runtime.context import Ctx
from runtime.pallets import balances, emission, treasury


def refund(ctx: Ctx, submitter: bytes, reserved: int) -> None:
    balances.deposit(ctx, submitter, balances.take_reserved(ctx, submitter, reserved))


def settle(ctx: Ctx, submitter: bytes, provider: bytes, reserved: int, fee: int, units: int) -> int:
    """Pay for a finished job; returns the fee charged."""
    taken = balances.take_reserved(ctx, submitter, reserved)
    fee = min(fee, taken)
    burned = ppm_of(fee, ctx.params.burn_rate_ppm)
    verifiers = ppm_of(fee, ctx.params.verifier_share_ppm)
    balances.deposit(ctx, submitter, taken - fee)
    balances.deposit(ctx, provider, fee - burned - verifiers)
    balances.burn(ctx, burned)
    treasury.receive(ctx, verifiers, "verifier share")
    if units > 0:
        emission.report_work(ctx, provider, units)
    return fee
