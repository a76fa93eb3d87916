"""The explorer's `vcoin_` RPC methods: one block decoded, one account in full.

| method | params | result |
|---|---|---|
| `vcoin_blockDetail` | `[hash or number?]` | `{header, canonical, finalized, time, justifiedBy, extrinsics: [{index, hash, signer, nonce, tip, pallet, call, args, fee, success, error, detail}], events}` |
| `vcoin_jobTimeline` | `[id]` | `{job, status, steps: [{step, at}], verification}` |
| `vcoin_accountView` | `[address]` | `{address, free, reserved, locked, nonce, staking, vesting, jobs, sessions, provider, activity}` |

Byte values longer than `MAX_SHOWN` bytes are shown as their first bytes
and length, so a block's answer stays small; 32-byte values under an
account's key (`who`, `provider`, ...) are shown as vc1 addresses.
`justifiedBy` lists the validators whose finality votes this node keeps for
the block (null when it keeps none: most blocks are finalized through a
later one's justification).
"""

from typing import Any

from consensus.finality import Justification
from node.abc import ExplorerHost
from node.jsonfmt import header_json, hex0x, parse_account
from node.rpc import RpcError, params_between
from node.rpc_bodies import body_of
from node.rpc_market import UNKNOWN_JOB, MarketRpc
from node.rpc_namespace import UNKNOWN_BLOCK, Namespace, header_at, rpc
from node.rpc_vcoin import VcoinRpc
from runtime.codec import CodecError
from runtime.crypto import to_address
from runtime.pallets import jobs, registry, staking, verification, vesting
from runtime.types import Extrinsic, Header, extrinsic_hash

MAX_SHOWN = 64
ACCOUNT_KEYS = frozenset({"to", "who", "provider", "src", "dst", "verifier", "proposer", "voter", "user",
                          "submitter", "offender", "author", "validator", "key"})  # fmt: skip
RECENT_JOBS = 20


def readable(value: Any, key: str = "") -> Any:
    if isinstance(value, bytes):
        if len(value) == 32 and key in ACCOUNT_KEYS:
            return to_address(value)
        if len(value) > MAX_SHOWN:
            return f"{hex0x(value[:32])}… ({len(value)} bytes)"
        return hex0x(value)
    if isinstance(value, dict):
        return {str(k): readable(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [readable(v, key) for v in value]
    return value


def event_view(wire: list[Any]) -> dict[str, Any]:
    pallet, name, data, index = wire
    return {"pallet": pallet, "name": name, "data": readable(data), "index": index}


def extrinsic_view(index: int, raw: bytes, events: list[dict[str, Any]]) -> dict[str, Any]:
    view: dict[str, Any] = {"index": index, "hash": hex0x(extrinsic_hash(raw)), "size": len(raw)}
    try:
        xt = Extrinsic.decode(raw)
        view.update(signer=to_address(xt.signer), nonce=xt.nonce, tip=xt.tip, pallet=xt.call.pallet,
                    call=xt.call.name, args=readable(dict(xt.call.args)))  # fmt: skip
    except CodecError:
        view.update(signer=None, pallet=None, call=None, args=None)
    outcome = next((e for e in events if e["index"] == index and e["pallet"] == "system"), None)
    name = outcome["name"] if outcome else ""
    data = outcome["data"] if outcome else {}
    view.update(fee=data.get("fee"), success=name == "ExtrinsicSuccess",
                error=data.get("error") or (f"invalid: {data.get('reason')}" if name == "ExtrinsicInvalid" else None),
                detail=data.get("detail"))  # fmt: skip
    return view


def last_voters(raw: bytes | None) -> frozenset[bytes] | None:
    if raw is None:
        return None
    try:
        return frozenset(vote.voter for vote in Justification.decode(raw).votes)
    except CodecError:
        return None


class ExplorerRpc(Namespace):
    prefix = "vcoin"

    def __init__(self, node: ExplorerHost) -> None:
        self.node = node

    def _header(self, at: Any) -> Header:
        chain = self.node.chain
        if type(at) is int:
            if at < 0:
                raise ValueError("a block number is non-negative")
            found = chain.store.hash_at(at)
            if found is None:
                raise RpcError(UNKNOWN_BLOCK, f"No block #{at} on the best chain")
            return header_at(chain, hex0x(found))
        return header_at(chain, at)

    @rpc("vcoin_blockDetail")
    def block_detail(self, params: list[Any]) -> Any:
        (at,) = params_between(params, 0, 1)
        chain = self.node.chain
        header = self._header(at)
        block = body_of(chain, header)
        kept = chain.pruner.events_kept(header.number)
        events = [event_view(e) for e in chain.store.events(header.hash)] if kept else []
        finalized = chain.finalized
        canonical = chain.store.hash_at(header.number) == header.hash
        voters = last_voters(chain.store.justification(header.hash))
        return {
            "header": header_json(header), "canonical": canonical,
            "finalized": canonical and header.number <= finalized.number,
            "time": header.slot * chain.spec.params.slot_seconds,
            "justifiedBy": None if voters is None else sorted(map(to_address, voters)),
            "extrinsics": [extrinsic_view(i, raw, events) for i, raw in enumerate(block.extrinsics)],
            "events": events,
            "eventsPruned": not kept,
        }  # fmt: skip

    @rpc("vcoin_jobTimeline")
    def job_timeline(self, params: list[Any]) -> Any:
        """A job's steps with their blocks (the current attempt's) and its
        verification: `waiting` (the draw comes `SAMPLE_DELAY` blocks after
        the reveal), `notSampled`, or the check's status. A known-answer job
        looks like any other until its validator opens it."""
        (job_id,) = params_between(params, 1, 1)
        state = self.node.chain.state
        if type(job_id) is not int or job_id < 0:
            raise ValueError("a job id is a non-negative integer")
        found = jobs.job(state, job_id)
        if found is None:
            raise RpcError(UNKNOWN_JOB, f"Unknown job {job_id}")
        steps = [{"step": "submitted", "at": found.created}]
        for step, at in (("assigned", found.assigned_at), ("committed", found.committed_at),
                         ("revealed", found.revealed_at)):  # fmt: skip
            if at:
                steps.append({"step": step, "at": at})
        check = verification.check(state, found.id)
        verdict = "waiting" if found.revealed_at else "none"
        if check is not None:
            verdict = str(check.status)
            steps.append({"step": "checked", "at": None, "deadline": check.deadline})
        elif verification.Sampled.get(state, found.id):
            verdict = "notSampled"
        if found.status in (jobs.JobStatus.SETTLED, jobs.JobStatus.REFUNDED, jobs.JobStatus.REJECTED):
            steps.append({"step": str(found.status), "at": None})  # the record keeps no block for it
        return {"job": found.id, "status": str(found.status), "steps": steps, "verification": verdict}

    @rpc("vcoin_accountView")
    def account_view(self, params: list[Any]) -> Any:
        (who,) = params_between(params, 1, 1)
        account = parse_account(who)
        address = to_address(account)
        ledger, market = VcoinRpc(self.node), MarketRpc(self.node)
        state = self.node.chain.state
        view: dict[str, Any] = {"address": address, "publicKey": hex0x(account)}
        view.update(ledger.account([address]))
        view["staking"] = ledger.staking_ledger([address])
        schedule = vesting.Schedules.get(state, account)
        view["vesting"] = None
        if schedule.total:
            vested = schedule.vested_at(self.node.chain.best.number)
            view["vesting"] = {"total": schedule.total, "start": schedule.start, "cliff": schedule.cliff,
                               "duration": schedule.duration, "released": schedule.released, "vested": vested}  # fmt: skip
        view["jobs"] = market.job_list([{"submitter": address}, RECENT_JOBS])
        view["sessions"] = market.session_list([{"account": address}, RECENT_JOBS])
        provider = registry.provider(state, account)
        view["provider"] = None
        if provider.models:
            view["provider"] = market.provider([address])
            view["provider"]["online"] = provider.last_seen_era >= staking.CurrentEra.get(state) - 1
        view["activity"] = self.node.history.account_latest(account)
        return view
