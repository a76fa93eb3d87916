"""The dashboard's overview `vcoin_` RPC methods.

| method | params | result |
|---|---|---|
| `vcoin_summary` | — | best and finalized blocks with their slot times, era and progress, peers, supply, stake, validators, providers, jobs, sessions, requests, slashes this era |
| `vcoin_validatorSet` | `[count?, start?]` | `[{address, bonded, active, authored, slashes, slashed, offencesThisEra, votedLastJustification}]`: candidates and active validators in key order after `start` (an address) |
| `vcoin_providerSet` | `[count?, start?]` | `[{address, models, price, memoryMb, stake, reputation, online, jobsDone, jobsFailed, openJobs}]`: registered providers in key order after `start` (those of the first `MAX_SCAN` models: `vcoin_summary`'s `providers.complete` says whether that is all) |

Figures of the state are the best block's; counts of what happened
(requests served, slashes this era, jobs and sessions finished, so those
still running) come from the history index (`node.history`), as of
`indexedTo` (the best block, unless the index is catching up).
`vcoin_validatorSet`'s `votedLastJustification` says whether the validator's
vote is in the justification this node holds for its finalized block (null
when it holds none, e.g. a dev chain finalizing alone).
"""

import bisect
from typing import Any

from node.abc import ExplorerHost
from node.history_point import Point
from node.jsonfmt import hex0x, parse_account
from node.rpc import params_between
from node.rpc_explorer import last_voters
from node.rpc_namespace import Namespace, rpc
from node.rpc_paging import MAX_SCAN, page_size
from runtime.constants import CAP
from runtime.crypto import to_address
from runtime.pallets import balances, emission, jobs, registry, reputation, sessions, slashing, staking
from runtime.state import State
from runtime.types import Header

DAY_SECONDS = 24 * 3600


def _block(header: Header, slot_seconds: int) -> dict[str, Any]:
    return {"number": header.number, "hash": hex0x(header.hash), "slot": header.slot,
            "time": header.slot * slot_seconds}  # fmt: skip


def serving(state: State) -> tuple[list[bytes], bool]:
    """The providers of the first MAX_SCAN models in key order, and whether
    that is every model (anyone may register models: the list grows)."""
    models = registry.ModelList.get(state)
    return sorted({who for model in models[:MAX_SCAN] for who in registry.Serving.get(state, model)}), len(
        models
    ) <= MAX_SCAN


def online(state: State, who: bytes) -> bool:
    """A heartbeat this era or the last."""
    return registry.provider(state, who).last_seen_era >= staking.CurrentEra.get(state) - 1


def providers(state: State) -> tuple[int, int, bool]:
    """Registered providers, those online, and whether the count is complete."""
    found, complete = serving(state)
    return len(found), sum(1 for who in found if online(state, who)), complete


class SummaryRpc(Namespace):
    prefix = "vcoin"

    def __init__(self, node: ExplorerHost) -> None:
        self.node = node

    def _since(self, latest: Point | None, number: int, name: str) -> int | None:
        """What the running total `name` grew by since block `number`."""
        if latest is None:
            return None
        before = self.node.history.at_or_before(max(number, 0)) if number > 0 else None
        return int(latest[name]) - (int(before[name]) if before else 0)

    @rpc("vcoin_summary")
    def summary(self, params: list[Any]) -> Any:
        params_between(params, 0, 0)
        chain, index = self.node.chain, self.node.history
        state, best, spec = chain.state, chain.best, chain.spec.params
        era_start = best.number - best.number % spec.era_length
        registered, online, complete = providers(state)
        latest = index.at_or_before(best.number)
        day = DAY_SECONDS // spec.slot_seconds
        minted, burned = balances.Minted.get(state), balances.Burned.get(state)
        submitted, opened = jobs.NextId.get(state), sessions.NextId.get(state)

        def total(name: str) -> int | None:
            return None if latest is None else int(latest[name])

        jobs_done = sum(total(n) or 0 for n in ("jobsSettled", "jobsRefunded", "jobsRejected"))
        return {
            "chain": chain.spec.name, "slotSeconds": spec.slot_seconds,
            "best": _block(best, spec.slot_seconds), "finalized": _block(chain.finalized, spec.slot_seconds),
            "era": {"index": staking.CurrentEra.get(state), "length": spec.era_length, "start": era_start,
                    "progress": best.number - era_start},
            "peers": self.node.peer_count(), "isSyncing": self.node.is_syncing(),
            "supply": {"cap": CAP, "minted": minted, "burned": burned, "issuance": minted - burned,
                       "rewardPool": emission.Pool.get(state)},
            "totalStaked": staking.TotalBonded.get(state), "validators": len(staking.Active.get(state)),
            "candidates": len(staking.Candidates.get(state)),
            "providers": {"registered": registered, "online": online, "complete": complete},
            "jobs": {"submitted": submitted, "running": max(0, submitted - jobs_done)},
            "sessions": {"opened": opened, "running": max(0, opened - (total("sessionsEnded") or 0))},
            "requestsServed": total("requestsServed"),
            "requestsServedToday": self._since(latest, best.number - day, "requestsServed"),
            "slashesThisEra": self._since(latest, era_start - 1, "slashes"),
            "indexedTo": None if latest is None else latest["number"],
        }  # fmt: skip

    @rpc("vcoin_providerSet")
    def provider_set(self, params: list[Any]) -> Any:
        count, start = params_between(params, 0, 2)
        state = self.node.chain.state
        accounts, _ = serving(state)
        first = 0 if start is None else bisect.bisect_right(accounts, parse_account(start))
        listed = []
        for who in accounts[first : first + page_size(count)]:
            prov = registry.provider(state, who)
            listed.append({
                "address": to_address(who), "models": [hex0x(h) for h in prov.models], "price": prov.price,
                "memoryMb": prov.memory_mb, "stake": staking.ledger(state, who).bonded,
                "reputation": reputation.score(state, who), "online": online(state, who),
                "jobsDone": prov.jobs_done, "jobsFailed": prov.jobs_failed, "openJobs": prov.open_jobs,
            })  # fmt: skip
        return listed

    @rpc("vcoin_validatorSet")
    def validator_set(self, params: list[Any]) -> Any:
        count, start = params_between(params, 0, 2)
        state = self.node.chain.state
        active = set(staking.Active.get(state))
        # a chilled validator stays active until the era ends: list both sets
        accounts = sorted({*staking.Candidates.get(state), *active})
        first = 0 if start is None else bisect.bisect_right(accounts, parse_account(start))
        era = staking.CurrentEra.get(state)
        voters = last_voters(self.node.chain.store.justification(self.node.chain.finalized_hash))
        listed = []
        for who in accounts[first : first + page_size(count)]:
            activity = self.node.history.account_latest(who) or {}
            offence_era, offences = slashing.EraOffences.get(state, who)
            listed.append({
                "address": to_address(who), "bonded": staking.ledger(state, who).bonded, "active": who in active,
                "authored": activity.get("authored", 0), "slashes": activity.get("slashes", 0),
                "slashed": activity.get("slashed", 0), "offencesThisEra": offences if offence_era == era else 0,
                "votedLastJustification": None if voters is None else who in voters,
            })  # fmt: skip
        return listed
