"""What the history index (`node.history`) records of one block: the chain's
figures after it, and what it changed for each account it touched.

A chain point holds the state's figures after the block (supply, stake,
counters) and running totals over every block so far of what its events
tell (fees, jobs settled, requests served, verification outcomes,
slashes): a total is exact at every kept point, so thinning the series
loses resolution, never correctness, and per-era rates are differences.
An account point holds the same kind of running totals for one account
(earnings, slashes, blocks authored, verdicts). Only events are read,
which every client sees: nothing here tells a known-answer job apart from
any other before its validator opens it.
"""

from collections.abc import Iterable
from typing import Any

from runtime.constants import ppm_of
from runtime.pallets import balances, emission, jobs, sessions, staking, system
from runtime.state import State
from runtime.types import Header

Point = dict[str, Any]

SNAPSHOT = ("minted", "burned", "issuance", "rewardPool", "staked", "era", "validators", "jobsSubmitted",
            "sessionsOpened")  # fmt: skip
TOTALS = ("extrinsics", "extrinsicsFailed", "fees", "transfers", "jobsSettled", "jobsRefunded", "jobsRejected",
          "jobFees", "sessionsEnded", "requestsServed", "sessionUnits", "sessionFees", "rewards",
          "checksOpened", "checksPassed", "checksFailed", "checksExpired", "disputes",
          "knownAnswersPassed", "knownAnswersFailed", "batchesVerified", "batchesRejected", "slashes",
          "slashed")  # fmt: skip
ACCOUNT_TOTALS = ("rewards", "jobFees", "sessionFees", "clawedBack", "units", "jobsSettled", "jobsFailed",
                  "batchesVerified", "slashes", "slashed", "authored", "verdicts")  # fmt: skip

# (pallet, event) -> the chain total it counts (one per event)
_COUNTED = {
    ("balances", "Transfer"): "transfers", ("jobs", "Settled"): "jobsSettled",
    ("jobs", "Refunded"): "jobsRefunded", ("jobs", "Rejected"): "jobsRejected",
    ("sessions", "Ended"): "sessionsEnded", ("verification", "CheckOpened"): "checksOpened",
    ("verification", "Disputed"): "disputes", ("sessions", "BatchVerified"): "batchesVerified",
    ("sessions", "BatchRejected"): "batchesRejected", ("slashing", "Slashed"): "slashes",
}  # fmt: skip
_CHECK_CLOSED = {"passed": "checksPassed", "failed": "checksFailed", "expired": "checksExpired"}


def snapshot(header: Header, state: State) -> Point:
    minted, burned = balances.Minted.get(state), balances.Burned.get(state)
    return {
        "number": header.number, "hash": header.hash, "slot": header.slot,
        "minted": minted, "burned": burned, "issuance": minted - burned, "rewardPool": emission.Pool.get(state),
        "staked": staking.TotalBonded.get(state), "era": staking.CurrentEra.get(state),
        "validators": len(staking.Active.get(state)), "jobsSubmitted": jobs.NextId.get(state),
        "sessionsOpened": sessions.NextId.get(state),
    }  # fmt: skip


def chain_point(header: Header, state: State, events: list[Any], previous: Point | None) -> Point:
    """The point of block `header`, from its post-state, its events (wire
    form) and the point of its parent (None for genesis)."""
    point = snapshot(header, state)
    totals = {name: 0 if previous is None else previous.get(name, 0) for name in TOTALS}
    for pallet, name, data, _ in events:
        counted = _COUNTED.get((pallet, name))
        if counted is not None:
            totals[counted] += 1
        if pallet == "system" and name in ("ExtrinsicSuccess", "ExtrinsicFailed"):
            totals["extrinsics"] += 1
            totals["fees"] += data.get("fee", 0)
            totals["extrinsicsFailed"] += name == "ExtrinsicFailed"
        elif pallet == "jobs" and name == "Settled":
            totals["jobFees"] += data["fee"]
        elif pallet == "sessions" and name == "Settled":
            totals["sessionUnits"] += data["units"]
            totals["sessionFees"] += data["fee"]
            totals["requestsServed"] += batch_requests(state, data)
        elif pallet == "emission" and name == "Rewarded":
            totals["rewards"] += data["amount"]
        elif pallet == "verification" and name == "CheckClosed" and data["status"] in _CHECK_CLOSED:
            totals[_CHECK_CLOSED[data["status"]]] += 1
        elif pallet == "known_answers" and name == "Opened":
            totals["knownAnswersPassed" if data["passed"] else "knownAnswersFailed"] += 1
        elif pallet == "slashing" and name == "Slashed":
            totals["slashed"] += data["amount"]
    point.update(totals)
    return point


def batch_requests(state: State, data: dict[str, Any]) -> int:
    """Requests in the batch a `sessions.Settled` event (its data) settled."""
    batch = sessions.batch(state, data["session"], data["batch"])
    return 0 if batch is None else batch.count - batch.first


def account_changes(header: Header, state: State, events: Iterable[list[Any]]) -> dict[bytes, Point]:
    """What block `header` added to each touched account's totals (the
    author, providers paid or failed, slashed accounts, verifiers)."""
    changes: dict[bytes, Point] = {}

    def add(who: Any, name: str, value: int = 1) -> None:
        if isinstance(who, bytes) and len(who) == 32:
            changes.setdefault(who, {})
            changes[who][name] = changes[who].get(name, 0) + value

    add(header.author, "authored")
    params = system.params(state)
    for pallet, name, data, _ in events:
        if (pallet, name) == ("emission", "Rewarded"):
            add(data["who"], "rewards", data["amount"])
            add(data["who"], "units", data["units"])
        elif (pallet, name) == ("jobs", "Settled"):
            fee = data["fee"]
            kept = fee - ppm_of(fee, params.burn_rate_ppm) - ppm_of(fee, params.verifier_share_ppm)
            add(data["provider"], "jobFees", kept)
            add(data["provider"], "jobsSettled")
        elif (pallet, name) == ("sessions", "Settled"):
            fee = data["fee"]  # burned part gone; the verifiers' share held until the audit
            add(
                data["provider"],
                "sessionFees",
                fee - ppm_of(fee, params.burn_rate_ppm) - ppm_of(fee, params.verifier_share_ppm),
            )
        elif (pallet, name) == ("sessions", "BatchRejected"):
            add(data["provider"], "clawedBack", data["refunded"])
        elif (pallet, name) == ("sessions", "BatchVerified"):
            add(data["provider"], "batchesVerified")
        elif pallet == "jobs" and name in ("Rejected", "MissedCommit", "MissedReveal"):
            add(data["provider"], "jobsFailed")
        elif (pallet, name) == ("slashing", "Slashed"):
            add(data["who"], "slashes")
            add(data["who"], "slashed", data["amount"])
        elif (pallet, name) == ("verification", "Verdict"):
            add(data["verifier"], "verdicts")
    return changes
