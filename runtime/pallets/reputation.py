"""Reputation: an integer score per provider, in parts per million.

Every provider starts at the neutral score. This issue only reads it (for
assignment weight and SLA eligibility); the verification pallet moves it
from verified success, speed and uptime.
"""

from runtime.constants import NEUTRAL_REPUTATION_PPM
from runtime.state import State
from runtime.storage import StorageMap

PALLET = "reputation"

# provider -> score in ppm; absent means neutral
Scores: StorageMap[int] = StorageMap(PALLET, "Scores", NEUTRAL_REPUTATION_PPM)


def score(state: State, who: bytes) -> int:
    return Scores.get(state, who)
