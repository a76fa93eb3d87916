"""Chain parameters: the chain-spec presets, fixed at genesis, and the
governable parameters, which governance moves within `PARAM_BOUNDS`
(tiers 2 and 3 of `runtime.constants`). Units beside each field."""

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from runtime import constants as c


@dataclass(frozen=True)
class Params:
    # -- chain-spec presets ----------------------------------------------------
    blocks_per_year: int  # blocks: the emission schedule's year
    slot_seconds: int = 6  # seconds per slot (one block at most)
    era_length: int = 600  # blocks: validator elections, heartbeats, repeat offences
    unbonding_period: int = 2_400  # blocks; longer than voting_period: see __post_init__
    min_validator_bond: int = 10_000 * c.UNIT  # base units
    min_provider_bond: int = 1_000 * c.UNIT  # base units
    existential_deposit: int = c.UNIT // 100  # base units: an account below it is reaped
    vesting_cliff: int = 0  # blocks
    vesting_duration: int = 0  # blocks; 0: TEAM_VESTING_MONTHS of blocks_per_year
    proposal_deposit: int = 100 * c.UNIT  # base units
    voting_period: int = 1_200  # blocks
    enactment_delay: int = 300  # blocks
    quorum_ppm: int = 200_000  # ppm of all bonded stake
    approval_ppm: int = 500_000  # ppm of the turnout
    job_commit_window: int = 20  # blocks from assignment to commit
    job_reveal_window: int = 10  # blocks from commit to reveal
    job_challenge_window: int = 20  # blocks from reveal to settlement
    min_job_price: int = 1  # base units per work unit
    max_job_deadline: int = 100_000  # blocks
    verify_window: int = 30  # blocks a verifier has for its verdict
    # -- governable (PARAM_BOUNDS) ------------------------------------------------
    max_validators: int = c.MAX_VALIDATORS  # count
    tx_base_fee: int = c.TX_BASE_FEE  # base units per unit of weight
    tx_byte_fee: int = c.TX_BYTE_FEE  # base units per byte
    burn_rate_ppm: int = c.BURN_RATE_PPM  # ppm
    verifier_share_ppm: int = c.VERIFIER_SHARE_PPM  # ppm
    sample_rate_ppm: int = c.SAMPLE_RATE_PPM  # ppm
    known_answer_rate_ppm: int = c.KNOWN_ANSWER_RATE_PPM  # ppm
    slash_missed_reveal_ppm: int = c.SLASH_MISSED_REVEAL_PPM  # ppm
    slash_mismatch_ppm: int = c.SLASH_MISMATCH_PPM  # ppm
    slash_failed_known_answer_ppm: int = c.SLASH_FAILED_KNOWN_ANSWER_PPM  # ppm
    slash_equivocation_ppm: int = c.SLASH_EQUIVOCATION_PPM  # ppm
    slash_false_verdict_ppm: int = c.SLASH_FALSE_VERDICT_PPM  # ppm

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if type(value) is not int or value < 0 or value > c.MAX_U64:
                raise ValueError(f"parameter {f.name} must be a non-negative integer")
        if self.blocks_per_year < 1 or self.era_length < 1 or self.slot_seconds < 1:
            raise ValueError("blocks_per_year, era_length and slot_seconds must be positive")
        for name, (low, high) in c.PARAM_BOUNDS.items():
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"parameter {name} must lie in [{low}, {high}]")
        if self.vesting_duration == 0:
            months = self.blocks_per_year * c.TEAM_VESTING_MONTHS // 12
            object.__setattr__(self, "vesting_duration", months)
        if self.approval_ppm > c.PPM or self.quorum_ppm > c.PPM:
            raise ValueError("quorum and approval are at most 1,000,000 ppm")
        # Defence in depth behind governance's vote lock: stake unbonded in the
        # block a proposal opens is withdrawable only after the proposal closed,
        # so it can never be moved, bonded again and vote twice on it.
        if self.unbonding_period <= self.voting_period:
            raise ValueError("parameter unbonding_period must be longer than voting_period")

    def to_wire(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "Params":
        return cls(**wire)

    def with_value(self, name: str, value: int) -> "Params":
        return replace(self, **{name: value})


def governable(name: str, value: int) -> str | None:
    """Why governance may not set `name` to `value`, or None if it may."""
    bounds = c.PARAM_BOUNDS.get(name)
    if bounds is None:
        return f"{name} is not a governable parameter"
    if type(value) is not int or not bounds[0] <= value <= bounds[1]:
        return f"{name} must lie in [{bounds[0]}, {bounds[1]}]"
    return None
