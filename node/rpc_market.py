"""The compute market's `vcoin_` RPC methods: models, providers, jobs,
results, blobs and sessions."""

import bisect
from typing import Any

from node.abc import MarketHost
from node.jsonfmt import hex0x, parse_account, parse_hex
from node.rpc import Method, RpcError, params_between
from node.rpc_namespace import Namespace, rpc
from node.rpc_paging import MAX_PAGE, cursor_id, descending_ids, page_size
from offchain.blobs import BlobStoreFull
from runtime.crypto import to_address
from runtime.pallets import jobs, registry, reputation, sessions, slashing, staking, verification
from runtime.pallets.system import params as chain_params
from runtime.state import State

MAX_BLOB_HEX = 64 * 1024 * 1024
UNKNOWN_JOB, UNKNOWN_MODEL, NO_SUCH_BLOB, BLOB_STORE_FULL = 4005, 4006, 4007, 4008


def model_json(model: registry.Model) -> dict[str, Any]:
    return {"hash": hex0x(model.hash), "name": model.name, "kind": model.kind, "params": model.params,
            "memoryMb": model.memory_mb, "owner": to_address(model.owner)}  # fmt: skip


def job_json(job: jobs.Job, state: State) -> dict[str, Any]:
    check = verification.check(state, job.id)
    return {
        "id": job.id, "submitter": to_address(job.submitter), "kind": job.kind, "model": hex0x(job.model),
        "inputHash": hex0x(job.input_hash), "inputSize": job.input_size, "options": job.options,
        "units": job.units, "maxFee": job.max_fee, "deadline": job.deadline, "minReputation": job.min_reputation,
        "created": job.created, "status": job.status,
        "provider": to_address(job.provider) if job.provider else None, "price": job.price,
        "assignedAt": job.assigned_at or None, "committedAt": job.committed_at or None,
        "revealedAt": job.revealed_at or None,
        # assigned: the last block its commit may land in (later once its provider said it started)
        "commitBy": jobs.commit_deadline(state, job, chain_params(state)) if job.status == jobs.JobStatus.ASSIGNED else None,
        "started": jobs.CommitBy.contains(state, job.id),
        "resultHash": hex0x(job.result_hash) if job.result_hash else None,
        "fee": job.fee, "attempts": len(job.tried) + (1 if job.provider else 0),
        "check": check.status if check is not None else "none",  # re-execution: open/disputed/passed/...
    }  # fmt: skip


def batch_json(batch: sessions.Batch) -> dict[str, Any]:
    return {"index": batch.index, "logRoot": hex0x(batch.log_root), "first": batch.first, "count": batch.count,
            "units": batch.units, "seq": batch.seq, "at": batch.at}  # fmt: skip


def session_json(found: sessions.Session, state: State) -> dict[str, Any]:
    """A session's record; `batches` counts its settles, `recentBatches` are
    those still kept (at most `MAX_SESSION_BATCHES`), oldest first."""
    return {
        "id": found.id, "user": to_address(found.user), "provider": to_address(found.provider),
        "model": hex0x(found.model), "key": to_address(found.key), "price": found.price,
        "deposit": found.deposit, "paid": found.paid, "remaining": found.deposit - found.paid,
        "units": found.units, "seq": found.seq, "count": found.count, "status": str(found.status),
        "expiry": found.expiry, "openedAt": found.opened_at, "closedAt": found.closed_at or None,
        "settledAt": found.settled_at or None, "windowStart": found.window_start, "endsAt": found.ends_at,
        "batches": found.batches, "recentBatches": [batch_json(b) for b in sessions.batches(state, found.id)],
    }  # fmt: skip


class MarketRpc(Namespace):
    prefix = "vcoin"

    def __init__(self, node: MarketHost) -> None:
        self.node = node

    def _state(self) -> State:
        return self.node.chain.state

    def _the_job(self, value: Any) -> jobs.Job:
        if type(value) is not int or value < 0:
            raise ValueError("a job id is a non-negative integer")
        found = jobs.job(self._state(), value)
        if found is None:
            raise RpcError(UNKNOWN_JOB, f"Unknown job {value}")
        return found

    @rpc("vcoin_models")
    def models(self, params: list[Any]) -> Any:
        """`[count?, start?]`: in content-hash order after `start`, the last
        hash of the previous page (anyone may register models: the list grows)."""
        count, start = params_between(params, 0, 2)
        size = page_size(count, default=MAX_PAGE)
        state = self._state()
        hashes = registry.ModelList.get(state)
        first = 0 if start is None else bisect.bisect_right(hashes, parse_hex(start, 32))
        found = (registry.model(state, h) for h in hashes[first : first + size])
        return [model_json(m) for m in found if m is not None]

    @rpc("vcoin_model")
    def model(self, params: list[Any]) -> Any:
        (name,) = params_between(params, 1, 1)
        if not isinstance(name, str):
            raise ValueError("a model is named by its name or 0x hash")
        state = self._state()
        model = registry.model(state, parse_hex(name, 32)) if name.startswith("0x") else None
        model = model or registry.model_by_name(state, name)
        if model is None:
            raise RpcError(UNKNOWN_MODEL, f"Unknown model {name}")
        return model_json(model)

    @rpc("vcoin_provider")
    def provider(self, params: list[Any]) -> Any:
        (who,) = params_between(params, 1, 1)
        account = parse_account(who)
        state = self._state()
        prov = registry.provider(state, account)
        return {
            "stake": staking.ledger(state, account).bonded,
            "reputation": reputation.score(state, account),
            "models": [hex0x(h) for h in prov.models], "memoryMb": prov.memory_mb, "price": prov.price,
            "lastSeenEra": prov.last_seen_era, "jobsDone": prov.jobs_done, "jobsFailed": prov.jobs_failed,
            "openJobs": prov.open_jobs, "slashes": slashing.EraOffences.get(state, account)[1],
            "chilledUntil": prov.chilled_until, "apiUrl": registry.api_url(state, account) or None,
        }  # fmt: skip

    @rpc("vcoin_job")
    def job(self, params: list[Any]) -> Any:
        (job_id,) = params_between(params, 1, 1)
        return job_json(self._the_job(job_id), self._state())

    def _jobs_page(self, params: list[Any]) -> tuple[list[dict[str, Any]], int | None]:
        """Newest first after `start`; the cursor to pass next, None at job 0."""
        filters, count, start = params_between(params, 0, 3)
        filters = filters or {}
        if not isinstance(filters, dict):
            raise ValueError("the filter is an object: {submitter?, provider?, status?}")
        size = page_size(count, default=MAX_PAGE)  # the old, unpaged answer's cap
        who = {k: parse_account(filters[k]) for k in ("submitter", "provider") if filters.get(k)}
        status = filters.get("status")
        state = self._state()
        listed: list[dict[str, Any]] = []
        scanned = None
        for job_id in descending_ids(jobs.NextId.get(state) - 1, cursor_id(start)):
            scanned = job_id
            found = jobs.job(state, job_id)
            if found is None or (status and found.status != status):
                continue
            if any(getattr(found, k) != v for k, v in who.items()):
                continue
            listed.append(job_json(found, state))
            if len(listed) >= size:
                break
        return listed, scanned or None

    @rpc("vcoin_jobs")
    def job_list(self, params: list[Any]) -> Any:
        """`[filter?, count?, start?]`: one page; a filtered page may end
        short where the scan budget ran out (vcoin_jobsPage says where)."""
        return self._jobs_page(params)[0]

    @rpc("vcoin_jobsPage")
    def job_list_page(self, params: list[Any]) -> Any:
        listed, following = self._jobs_page(params)
        return {"jobs": listed, "next": following}

    @rpc("vcoin_session")
    def session(self, params: list[Any]) -> Any:
        """`[id]`: the session's record, or null (never opened, or ended)."""
        (session_id,) = params_between(params, 1, 1)
        if type(session_id) is not int or session_id < 0:
            raise ValueError("a session id is a non-negative integer")
        state = self._state()
        found = sessions.session(state, session_id)
        return None if found is None else session_json(found, state)

    @rpc("vcoin_sessions")
    def session_list(self, params: list[Any]) -> Any:
        """`[filter?, count?, start?]`, newest first below `start` (the id of
        the previous page's last session): with `{"account": addr}` the
        sessions it opened or serves (bounded by the pallet's per-account and
        per-provider caps), else every live session within the scan budget."""
        filters, count, start = params_between(params, 0, 3)
        filters = filters or {}
        if not isinstance(filters, dict) or set(filters) - {"account"}:
            raise ValueError("the filter is an object: {account?}")
        size = page_size(count, default=MAX_PAGE)
        below = cursor_id(start)
        state = self._state()
        if filters.get("account"):
            who = parse_account(filters["account"])
            ids: Any = sorted(
                {*sessions.opened_by(state, who), *sessions.served_by(state, who)}, reverse=True
            )
            ids = [i for i in ids if below is None or i < below]
        else:
            ids = descending_ids(sessions.NextId.get(state) - 1, below)
        listed: list[dict[str, Any]] = []
        for session_id in ids:
            found = sessions.session(state, session_id)
            if found is None:
                continue
            listed.append(session_json(found, state))
            if len(listed) >= size:
                break
        return listed

    @rpc("vcoin_jobResult")
    def job_result(self, params: list[Any]) -> Any:
        (job_id,) = params_between(params, 1, 1)
        found = self._the_job(job_id)
        if not found.result_hash:
            return {"job": found.id, "status": found.status, "resultHash": None, "result": None}
        data = found.result or self.node.blobs.get(found.result_hash)
        fetching = data is None and self.node.want_blob(found.result_hash)  # large results live off chain
        return {"job": found.id, "status": found.status, "resultHash": hex0x(found.result_hash),
                "result": None if data is None else hex0x(data), "fetching": fetching}  # fmt: skip

    @rpc("vcoin_putBlob")
    def put_blob(self, params: list[Any]) -> Any:
        (data_hex,) = params_between(params, 1, 1)
        if not isinstance(data_hex, str) or len(data_hex) > MAX_BLOB_HEX:
            raise ValueError("a blob is 0x-hex of at most 32 MiB")
        try:
            return hex0x(self.node.blobs.put(parse_hex(data_hex), staged=True))
        except BlobStoreFull as exc:
            raise RpcError(BLOB_STORE_FULL, f"{exc}; try again later") from None

    @rpc("vcoin_getBlob")
    def get_blob(self, params: list[Any]) -> Any:
        (digest_hex,) = params_between(params, 1, 1)
        digest = parse_hex(digest_hex, 32)
        data = self.node.blobs.get(digest)
        if data is None:  # fetched from peers only for a job's sake (vcoin_jobResult), never for any hash
            raise RpcError(
                NO_SUCH_BLOB, "This node does not hold that blob; a job's result comes with vcoin_jobResult"
            )
        return hex0x(data)


def build_market_methods(node: MarketHost) -> dict[str, Method]:
    return MarketRpc(node).methods()
