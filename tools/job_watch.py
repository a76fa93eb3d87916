"""Watching a job as it goes: each transition the chain records (assigned,
started, committed, revealed, missed, declined, refunded) read from the
events of the blocks since the last look (`vcoin_blockDetail`), as one line
for people. A transition after which the job cannot succeed is `final`,
so a waiting client stops then, not at the job's deadline."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.client import VcoinClient

MAX_BLOCKS_PER_LOOK = 64  # blocks read in one look: a watcher far behind catches up over several


@dataclass(frozen=True)
class Transition:
    block: int
    name: str  # the jobs event
    text: str
    final: bool = False  # the job ended without a result


def _short(address: Any) -> str:
    text = str(address or "?")
    return text if len(text) <= 16 else f"{text[:12]}…"


def describe(job_id: int, block: int, name: str, data: dict[str, Any]) -> Transition | None:
    """The line for one of the job's events, None for one nobody needs to see."""
    who = _short(data.get("provider"))
    lines: dict[str, Callable[[], str]] = {
        "Assigned": lambda: f"assigned to {who} at {data.get('price')} base units a work unit",
        "Started": lambda: f"running on {who}; its commit is due by block {data.get('commit_by')}",
        "Committed": lambda: f"{who} committed to its result",
        "Revealed": lambda: f"{who} revealed the result",
        "MissedCommit": lambda: f"{who} did not commit before its commit window passed: reassigning",
        "MissedReveal": lambda: f"{who} did not reveal in time (slashed): reassigning",
        "Declined": lambda: f"{who} gave it back ({data.get('why')}): reassigning",
        "Refused": lambda: f"{who} refused its input ({data.get('why')}): reassigning",
        "Evicted": lambda: f"outbid by job {data.get('by')} in a full market",
        "Settled": lambda: f"settled: {data.get('fee')} base units paid",
    }
    if name == "Refunded":
        reason = str(data.get("reason") or "")
        if reason == "no provider left to take it":
            text = f"job {job_id}: no provider left — refunded at block {block}"
        else:
            text = f"job {job_id} was refunded at block {block}: {reason}"
        return Transition(block, name, text, final=True)
    if name == "Rejected":
        return Transition(block, name, f"job {job_id} was rejected at block {block}: its result was proven wrong",
                          final=True)  # fmt: skip
    line = lines.get(name)
    return None if line is None else Transition(block, name, f"block {block}: {line()}")


class JobWatch:
    """The transitions of one job since block `since` (exclusive)."""

    def __init__(self, client: VcoinClient, job_id: int, since: int) -> None:
        self.client, self.job_id, self.seen = client, job_id, since

    def look(self) -> list[Transition]:
        best = int(self.client.call("system_health")["bestNumber"])
        found = []
        for number in range(self.seen + 1, min(best, self.seen + MAX_BLOCKS_PER_LOOK) + 1):
            detail = self.client.call("vcoin_blockDetail", number)
            for event in detail["events"]:
                data = event.get("data") or {}
                if event["pallet"] == "jobs" and data.get("job") == self.job_id:
                    transition = describe(self.job_id, number, event["name"], data)
                    if transition is not None:
                        found.append(transition)
            self.seen = number
        return found
