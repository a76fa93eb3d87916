"""The runtime's numbers, in three tiers (as the Ethereum consensus specs
split constants, presets and configuration):

1. Protocol constants (this module): the same on every VCoin chain. Changing
   one changes what every node computes: a new runtime.
2. Chain-spec presets (`runtime.params.Params`, the fields not in
   `PARAM_BOUNDS`): chosen per chain in its spec and fixed at genesis (a dev
   chain shortens the year, the eras and the job windows).
3. Governable parameters (`PARAM_BOUNDS` below, also fields of `Params`):
   their defaults are here; an enacted governance proposal moves them within
   their bounds.

Everything is an integer, with its unit beside it: base units (10^-9 VCoin),
blocks, eras, bytes, ppm (parts per million: 1,000,000 is 100%) or a plain
count. The rules of each job kind (option bounds, texts per input) live with
them in `runtime.pallets.job_rules`.
"""

from typing import Final

PPM: Final = 1_000_000  # ppm: the whole
UNIT: Final = 10**9  # base units in one VCoin

# -- 1. Protocol constants ----------------------------------------------------

# Token (base units unless said otherwise).
CAP: Final = 1_000_000_000 * UNIT
REWARD_POOL: Final = 550_000_000 * UNIT  # emitted per block, not minted at genesis
ECOSYSTEM_ALLOCATION: Final = 200_000_000 * UNIT
TEAM_ALLOCATION: Final = 150_000_000 * UNIT
RESERVE_ALLOCATION: Final = 100_000_000 * UNIT
assert REWARD_POOL + ECOSYSTEM_ALLOCATION + TEAM_ALLOCATION + RESERVE_ALLOCATION == CAP
YEAR1_EMISSION: Final = 82_500_000 * UNIT
EMISSION_DECAY_NUM: Final = 85  # each year emits 85/100 of the previous one
EMISSION_DECAY_DEN: Final = 100
TEAM_VESTING_MONTHS: Final = 36  # months (of blocks_per_year / 12 blocks): the default vesting

# Limits that keep every block bounded and every input cheap to reject.
MAX_EXTRINSIC_BYTES: Final = 64 * 1024  # bytes
MAX_BLOCK_BYTES: Final = 4 * 1024 * 1024  # bytes of extrinsics
# Must stay below NONCE_EPOCH: a re-created account starts its nonce at
# number * NONCE_EPOCH, so no transaction of an earlier life can be replayed.
MAX_BLOCK_EXTRINSICS: Final = 10_000  # count
NONCE_EPOCH: Final = 1 << 16  # nonces per block number
MAX_U64: Final = (1 << 64) - 1
MAX_PROPOSALS_ACTIVE: Final = 64  # count
MAX_UNBONDING_CHUNKS: Final = 32  # count, per account
MAX_HEADER_BYTES: Final = 1024  # bytes of an encoded header given as equivocation evidence
MAX_VOTE_BYTES: Final = 256  # bytes of an encoded finality vote
MAX_SALT_BYTES: Final = 64  # bytes of a commitment's salt (job reveals, known answers)

# Compute market.
MAX_MODEL_NAME: Final = 64  # characters
MAX_MODELS_PER_PROVIDER: Final = 32  # count
MAX_PROVIDERS_PER_MODEL: Final = 256  # count
MAX_INLINE_INPUT: Final = 16 * 1024  # bytes; larger inputs are referenced by hash
MAX_REFERENCED_INPUT: Final = (
    32 * 1024 * 1024
)  # bytes: what `vcoin_putBlob` takes and the blob exchange carries
MAX_INLINE_RESULT: Final = 32 * 1024  # bytes; larger results stay off chain, by hash
MAX_REFUSAL_REASON: Final = 200  # characters of a provider's reason to refuse a job
MAX_UNASSIGNED_JOBS: Final = 1_024  # count: jobs waiting for a provider, all submitters together
MAX_JOBS_PER_PROVIDER: Final = 64  # count: open jobs (assigned, committed or revealed)
# One account may not hold more of the waiting set than one provider can take at once.
MAX_WAITING_PER_SUBMITTER: Final = 64  # count
# When the waiting set is full, a new job must offer a max fee more than this much
# above the cheapest waiting job's to take its place: outbidding by one base unit
# at a time would let two bidders refund each other's jobs for a transaction fee.
MARKET_OUTBID_PPM: Final = 100_000  # ppm
# A waiting job is looked at this often; if no provider could take it then
# (none serves the model online at its price and reputation floor, or all that
# do have failed it) it is refunded at once instead of waiting for its deadline.
JOB_IDLE_BLOCKS: Final = 20  # blocks
MAX_ASSIGNMENTS_PER_BLOCK: Final = 64  # count
# Assignment work per block: one per model queue and per provider looked at,
# one per waiting job read; the next block goes on where this one stopped.
MAX_ASSIGN_STEPS_PER_BLOCK: Final = 512  # steps
# The slowest provider the market plans for, in work units a second: a provider
# that acknowledges a job (`jobs.start`) has its commit window stretched by the
# blocks this speed needs for the job's units (`job_windows`). A CPU runs the
# 135M-parameter SmolLM2 at about 3,000 units/s once loaded; a GPU far faster.
JOB_MIN_UNITS_PER_SECOND: Final = 1_000  # work units per second
MAX_NEW_TOKENS: Final = 1_024  # tokens an inference job may ask for
MAX_LORA_STEPS: Final = 10_000  # training steps a LoRA job may ask for
MAX_GROUP: Final = 8  # providers one LoRA job may be spread over (`job_groups`)
MAX_LORA_ROUNDS: Final = 64  # DiLoCo rounds of a job spread over providers

# Sessions (see `runtime.pallets.sessions`): prepaid request/response serving.
# base units a client reserves for a session unless told otherwise (the API's,
# and validators' known-answer sessions: the same, so the two look alike)
DEFAULT_SESSION_DEPOSIT: Final = 10 * UNIT
MAX_API_URL: Final = 200  # bytes: a provider's published API address (registry.set_api_url)
MAX_SESSION_BLOCKS: Final = 100_000  # blocks: a session's expiry is at most this far ahead
SESSION_SETTLE_INTERVAL: Final = 10  # blocks between two settles of a session (the closing one excepted)
# A session's first batches may settle sooner: each settle opens a sampled
# audit, and a cheating provider is caught in the batches it settles, so the
# requests a cheater serves before its slash shrink with the wait before its
# second and third settles (the first is at once).
SESSION_YOUNG_BATCHES: Final = 4  # count: batches a session settles at the young interval
SESSION_YOUNG_SETTLE_INTERVAL: Final = 3  # blocks, > SAMPLE_DELAY so settles do not outrun their draws
SESSION_CLOSE_WINDOW: Final = 20  # blocks the provider may still settle after a close or the expiry
MAX_SESSIONS_PER_ACCOUNT: Final = 16  # count: sessions an account has open (or closing) as the payer
MAX_SESSIONS_PER_PROVIDER: Final = 256  # count: sessions a provider serves at once
MAX_SESSION_BATCHES: Final = 64  # count: settled batches kept per session (the oldest go first)
MAX_BATCH_LEAVES: Final = 100_000  # count: requests (log leaves) one settle may add
MAX_SESSION_ENDS_PER_BLOCK: Final = 256  # count: sessions one block ends; the rest wait a block
# Sampled verification of settled batches (see `runtime.pallets.session_checks`).
# A batch's draw picks about sample_rate x its leaves, at most this many: the
# provider must publish each one on chain (up to ~50 KiB) and a verifier
# re-execute it, so a batch of 100,000 requests may not cost 10,000 of either.
# Eight samples still catch a provider cheating on a tenth of its leaves with
# probability 1 - 0.9^8 (about 57%) per batch, and every batch is drawn.
MAX_SAMPLED_LEAVES: Final = 8  # count, per batch
# Blocks after the draw in which the provider must publish its sampled leaves
# (as long as a job's whole commit/reveal life on the default chain: room for
# a resend or two); a leaf not published by then is slashed like a missed reveal.
SESSION_PUBLISH_WINDOW: Final = 20  # blocks
MAX_PUBLISHED_REQUEST: Final = MAX_INLINE_INPUT  # bytes: a sampled request, published on chain
MAX_PUBLISHED_RESULT: Final = MAX_INLINE_RESULT  # bytes: ... and its result (both fit one extrinsic)
# Check ids of published session samples start here: job ids (from 0) never reach it,
# so `verification` keeps one map of checks for both.
SESSION_CHECK_IDS: Final = 1 << 62
MAX_AUDITS_PER_BLOCK: Final = 256  # count: batch draws and clearances one block does; the rest wait a block
# A session's opener may make its provider publish a leaf of a settled batch
# (`sessions.challenge`, see `runtime.pallets.session_challenges`), checked like a
# sampled leaf. Each challenge costs the provider a publication and a verifier a
# re-execution, paid for only by the opener's transaction fee, so their number
# per batch is bounded: 4 is enough for a known-answer session's few wrong
# answers and keeps a batch's checks at most 8 sampled + 4 challenged.
MAX_CHALLENGES_PER_BATCH: Final = 4  # count, per settled batch

# Verification (see `runtime.pallets.verification`).
SAMPLE_DELAY: Final = 2  # blocks after a reveal: the draw uses a block hash unknown until then
DISPUTE_VERIFIERS: Final = 2  # count: validators added to a check that found a mismatch
PROBATION_JOBS: Final = 10  # count: a provider's first jobs, checked at PROBATION_FACTOR x the base rate
PROBATION_FACTOR: Final = 3  # times sample_rate_ppm
SEAL_GRACE: Final = 600  # blocks a known-answer seal may wait for its job, beyond the longest job's life

# Reputation (see `runtime.pallets.reputation`); scores are ppm.
NEUTRAL_REPUTATION_PPM: Final = 500_000  # ppm: every provider's start
REPUTATION_FAST_STEP: Final = 25  # a job delivered fast moves the score 1/25 of the way to the top
REPUTATION_SLOW_STEP: Final = 50  # ... any other settled job 1/50
REPUTATION_UPTIME_STEP: Final = 200  # ... an era's first heartbeat 1/200
# A job declined inside its window (`jobs.decline`) takes 1/50 of the score: far
# less than a vanished one's quarter, so saying "I cannot make it" always pays.
REPUTATION_DECLINE_STEP: Final = 50
REPUTATION_DECAY_NUM: Final = 9  # per era without update, the gap to neutral keeps 9/10
REPUTATION_DECAY_DEN: Final = 10
REPUTATION_DECAY_ERAS: Final = 64  # eras: the drift stops after this many (0.9^64 is about 0.1%)

# -- 3. Governable parameters: defaults and bounds ------------------------------
# (tier 2, the chain-spec presets, are the other fields of `runtime.params.Params`)

BURN_RATE_PPM: Final = 150_000  # ppm of every job fee, burned
VERIFIER_SHARE_PPM: Final = 50_000  # ppm of every job fee, to the validators who verified it
SAMPLE_RATE_PPM: Final = 100_000  # ppm of jobs re-executed (more for new or low-reputation providers)
KNOWN_ANSWER_RATE_PPM: Final = 50_000  # ppm of jobs the validators' workers submit as known-answer tests
# Slash rates, ppm of bonded and unbonding stake, per offence (`slashing.SLASH_RATE`);
# a second offence within an era is slashed at SLASH_CAP_PPM.
SLASH_MISSED_REVEAL_PPM: Final = 50_000
SLASH_MISMATCH_PPM: Final = 200_000
SLASH_FAILED_KNOWN_ANSWER_PPM: Final = 300_000
SLASH_EQUIVOCATION_PPM: Final = 500_000
SLASH_FALSE_VERDICT_PPM: Final = 200_000  # a verifier outvoted in a dispute
SLASH_MIN_PPM: Final = 50_000
SLASH_CAP_PPM: Final = 500_000
TX_BASE_FEE: Final = UNIT // 1_000  # base units per unit of call weight
TX_BYTE_FEE: Final = UNIT // 1_000_000  # base units per byte of the extrinsic
MAX_VALIDATORS: Final = 100  # count: the size of the active set

# name -> (lowest, highest) a governance proposal may set, in the parameter's unit.
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
