"""Weights: what a call costs the block that includes it, in units of a
plain transfer (Substrate's weights, reduced to one table). A call's fee is
`tx_base_fee x weight + tx_byte_fee x size`, and a block holds at most
`MAX_BLOCK_WEIGHT`, so the work a block does is bounded and whoever asks
for more of it pays more. A call's weight covers what it makes later
blocks do for it (a job's assignment, timers and settlement)."""

from typing import Final

from runtime.constants import MAX_GROUP
from runtime.types import Call

DEFAULT_WEIGHT: Final = 1
# 3,000 transfers (or 600 job submissions): a full block imports in about
# 0.4-0.6 s on one loaded core even when none of its signatures were checked
# in the pool before (a node catching up), a quarter of a 2 s slot; 1,000
# transfers/s need 2,000 a block, and the headroom drains a backlog.
MAX_BLOCK_WEIGHT: Final = 3_000

CALL_WEIGHTS: Final[dict[tuple[str, str], int]] = {
    ("jobs", "submit"): 5,  # admission, assignment, timers and settlement
    ("jobs", "commit"): 2,
    ("jobs", "reveal"): 3,  # schedules sampling and the challenge window
    ("jobs", "refuse"): 2,
    ("jobs", "start"): 2,  # a later commit-window timer
    ("jobs", "decline"): 2,
    ("jobs", "rendezvous"): 2,
    ("jobs", "progress"): 2,  # a fresh commit-window timer
    ("jobs", "delivered"): 1,
    ("registry", "register_model"): 20,
    ("registry", "register_provider"): 5,
    ("registry", "deregister_provider"): 3,
    ("governance", "propose"): 20,
    ("governance", "vote"): 2,
    ("staking", "bond"): 2,
    ("staking", "unbond"): 2,
    ("staking", "withdraw_unbonded"): 2,
    ("staking", "validate"): 3,
    ("verification", "verdict"): 2,
    ("known_answers", "seal"): 2,
    ("known_answers", "open"): 3,
    ("sessions", "open"): 5,  # the provider's draw, the timer and the end's refund
    ("sessions", "settle"): 4,  # a signature check, the payout and the batch record
    ("sessions", "close"): 2,
    ("sessions", "challenge"): 3,  # an audit, its publication window and timer, a verifier's check
}


def weight_of(call: Call) -> int:
    weight = CALL_WEIGHTS.get((call.pallet, call.name), DEFAULT_WEIGHT)
    if (call.pallet, call.name) == ("jobs", "submit"):  # one job per provider it is spread over
        options = call.args.get("options")
        wanted = options.get("providers", 1) if isinstance(options, dict) else 1
        weight *= wanted if type(wanted) is int and 1 <= wanted <= MAX_GROUP else 1
    return weight
