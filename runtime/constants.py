"""The token's fixed numbers and every protocol constant, in one table.

Values marked "governable" are only defaults: governance may move them inside
the bounds of `PARAM_BOUNDS`. Everything here is an integer; ratios are parts
per million (PPM).
"""

from typing import Final

PPM: Final = 1_000_000
UNIT: Final = 10**9  # base units in one VCoin

CAP: Final = 1_000_000_000 * UNIT
REWARD_POOL: Final = 550_000_000 * UNIT  # emitted per block, not minted at genesis
ECOSYSTEM_ALLOCATION: Final = 200_000_000 * UNIT
TEAM_ALLOCATION: Final = 150_000_000 * UNIT
RESERVE_ALLOCATION: Final = 100_000_000 * UNIT
assert REWARD_POOL + ECOSYSTEM_ALLOCATION + TEAM_ALLOCATION + RESERVE_ALLOCATION == CAP

YEAR1_EMISSION: Final = 82_500_000 * UNIT
EMISSION_DECAY_NUM: Final = 85  # each year emits 85/100 of the previous
EMISSION_DECAY_DEN: Final = 100
TEAM_VESTING_MONTHS: Final = 36

# Governable defaults (PPM).
BURN_RATE_PPM: Final = 150_000
VERIFIER_SHARE_PPM: Final = 50_000
SAMPLE_RATE_PPM: Final = 100_000
KNOWN_ANSWER_RATE_PPM: Final = 50_000
SLASH_MISSED_REVEAL_PPM: Final = 50_000
SLASH_MISMATCH_PPM: Final = 200_000
SLASH_FAILED_KNOWN_ANSWER_PPM: Final = 300_000
SLASH_EQUIVOCATION_PPM: Final = 500_000
SLASH_MIN_PPM: Final = 50_000
SLASH_CAP_PPM: Final = 500_000

# Limits that keep every block bounded and every input cheap to reject.
MAX_EXTRINSIC_BYTES: Final = 64 * 1024
MAX_BLOCK_BYTES: Final = 4 * 1024 * 1024
# Must stay below NONCE_EPOCH: a re-created account starts its nonce at
# number * NONCE_EPOCH, so no transaction of an earlier life can be replayed.
MAX_BLOCK_EXTRINSICS: Final = 10_000
NONCE_EPOCH: Final = 1 << 16
MAX_U64: Final = (1 << 64) - 1
MAX_PROPOSALS_ACTIVE: Final = 64
MAX_UNBONDING_CHUNKS: Final = 32
MAX_MEMO_BYTES: Final = 256

# Compute market.
JOB_KINDS: Final = ("inference", "embed", "lora")
MAX_MODEL_NAME: Final = 64
MAX_MODELS_PER_PROVIDER: Final = 32
MAX_PROVIDERS_PER_MODEL: Final = 256
MAX_INLINE_INPUT: Final = 16 * 1024  # larger inputs are referenced by hash
MAX_REFERENCED_INPUT: Final = 32 * 1024 * 1024  # what `vcoin_putBlob` takes and the blob exchange carries
MAX_INLINE_RESULT: Final = 32 * 1024  # larger results stay off chain, by hash
MAX_UNASSIGNED_JOBS: Final = 1_024  # jobs waiting for a provider, all submitters together
MAX_JOBS_PER_PROVIDER: Final = 64
# One account may not hold more of the waiting set than one provider can take at once.
MAX_WAITING_PER_SUBMITTER: Final = 64
# When the waiting set is full, a new job must offer a max fee more than this much
# above the cheapest waiting job's to take its place: outbidding by one base unit
# at a time would let two bidders refund each other's jobs for a transaction fee.
MARKET_OUTBID_PPM: Final = 100_000
# A waiting job is looked at this often; if no provider could take it then
# (none serves the model online at its price and reputation floor, or all that
# do have failed it) it is refunded at once instead of waiting for its deadline.
JOB_IDLE_BLOCKS: Final = 20
MAX_ASSIGNMENTS_PER_BLOCK: Final = 64
# Assignment work per block: one per model queue and per provider looked at,
# one per waiting job read; the next block goes on where this one stopped.
MAX_ASSIGN_STEPS_PER_BLOCK: Final = 512
MAX_NEW_TOKENS: Final = 1_024
MAX_LORA_STEPS: Final = 10_000
NEUTRAL_REPUTATION_PPM: Final = 500_000

# name -> (lowest, highest) a governance proposal may set.
PARAM_BOUNDS: Final[dict[str, tuple[int, int]]] = {
    "burn_rate_ppm": (100_000, 200_000),
    "verifier_share_ppm": (0, 100_000),
    "sample_rate_ppm": (10_000, 500_000),
    "known_answer_rate_ppm": (0, 200_000),
    "slash_missed_reveal_ppm": (SLASH_MIN_PPM, SLASH_CAP_PPM),
    "slash_mismatch_ppm": (SLASH_MIN_PPM, SLASH_CAP_PPM),
    "slash_failed_known_answer_ppm": (SLASH_MIN_PPM, SLASH_CAP_PPM),
    "slash_equivocation_ppm": (SLASH_MIN_PPM, SLASH_CAP_PPM),
    "slash_false_verdict_ppm": (SLASH_MIN_PPM, SLASH_CAP_PPM),
    "tx_base_fee": (0, 1_000 * UNIT),
    "tx_byte_fee": (0, UNIT),
    "max_validators": (1, 1_000),
}


def ppm_of(amount: int, ppm: int) -> int:
    """`amount * ppm / 1e6`, rounded down; integer only."""
    return amount * ppm // PPM
