"""History-sized RPC lists come in bounded pages (Substrate's count/start
shape); the old call shapes still answer the first page."""

from types import SimpleNamespace
from typing import Any, cast

import pytest

from node import rpc_market, rpc_paging
from node.rpc_methods import build_methods
from runtime.crypto import dev_keypair
from runtime.pallets import jobs, verification
from tests.nodeproc import NodeProcess
from tools import paging

BOB, EVE = dev_keypair("bob"), dev_keypair("eve")


def _job(job_id: int, status: str) -> Any:
    return SimpleNamespace(
        id=job_id, submitter=BOB.public, kind="embed", model=b"\1" * 32, input_hash=b"", input_size=0,
        options={}, units=1, max_fee=1, deadline=9, min_reputation=0, created=1, status=status, provider=b"",
        price=0, assigned_at=0, committed_at=0, revealed_at=0, result_hash=b"", fee=0, tried=(),
    )  # fmt: skip


@pytest.fixture
def market(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The market methods over 5,000 jobs, every 1,000th "settled"."""
    total = 5_000
    monkeypatch.setattr(jobs, "NextId", SimpleNamespace(get=lambda state: total))
    reads: list[int] = []

    def job(state: Any, job_id: int) -> Any:
        reads.append(job_id)
        return _job(job_id, "settled" if job_id % 1_000 == 0 else "pending")

    monkeypatch.setattr(jobs, "job", job)
    monkeypatch.setattr(verification, "check", lambda state, job_id: None)
    monkeypatch.setattr(jobs, "CommitBy", SimpleNamespace(contains=lambda state, job_id: False))
    node = SimpleNamespace(chain=SimpleNamespace(state=object()))
    return {"methods": rpc_market.build_market_methods(cast(Any, node)), "reads": reads}


def test_jobs_come_in_pages_newest_first(market: dict[str, Any]) -> None:
    methods = market["methods"]
    first = methods["vcoin_jobs"]([])
    assert len(first) == rpc_paging.MAX_PAGE and first[0]["id"] == 4_999  # the old shape: the first page
    assert [j["id"] for j in methods["vcoin_jobs"]([{}, 3])] == [4_999, 4_998, 4_997]
    assert [j["id"] for j in methods["vcoin_jobs"]([None, 3, 4_997])] == [4_996, 4_995, 4_994]
    page = methods["vcoin_jobsPage"]([{}, 2, 2])
    assert [j["id"] for j in page["jobs"]] == [1, 0] and page["next"] is None
    for bad in ([{}, 0], [{}, rpc_paging.MAX_PAGE + 1], [{}, True], [{}, 5, -1], [{}, 5, "x"]):
        with pytest.raises(ValueError):
            methods["vcoin_jobs"](bad)


def test_a_filtered_scan_is_bounded_and_says_where_to_go_on(market: dict[str, Any]) -> None:
    methods, reads = market["methods"], market["reads"]
    settled: list[int] = []
    cursor = None
    calls = 0
    while True:
        reads.clear()
        page = methods["vcoin_jobsPage"]([{"status": "settled"}, 10, cursor])
        assert len(reads) <= rpc_paging.MAX_SCAN  # never the whole history in one call
        settled += [j["id"] for j in page["jobs"]]
        calls += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert settled == [4_000, 3_000, 2_000, 1_000, 0] and calls == 3
    assert len(methods["vcoin_jobs"]([{"status": "settled"}])) == 2  # the list shape: the first scan


class _Client:
    """`tools.paging` over the in-process methods, as a node would answer."""

    def __init__(self, methods: dict[str, Any]) -> None:
        self.methods = methods

    def call(self, method: str, *params: Any) -> Any:
        return self.methods[method](list(params))


def test_job_list_follows_pages(market: dict[str, Any]) -> None:
    client = _Client(market["methods"])
    assert [j["id"] for j in paging.newest_jobs(client, {"status": "settled"}, 4)] == [
        4_000,
        3_000,
        2_000,
        1_000,
    ]
    assert len(paging.newest_jobs(client, {}, 450)) == 450


def test_pending_extrinsics_are_bounded_in_count_and_bytes() -> None:
    big = [SimpleNamespace(raw=bytes([i % 256]) * 60_000) for i in range(100)]
    node = SimpleNamespace(chain=SimpleNamespace(), pool=SimpleNamespace(pending=lambda: big))
    pending = build_methods(cast(Any, node))["author_pendingExtrinsics"]
    first = pending([])
    assert 1 <= len(first) < len(big)
    assert sum(len(tx) // 2 - 1 for tx in first) <= rpc_paging.MAX_PAGE_BYTES
    assert len(pending([5])) == 5
    assert pending([200, len(first)])[0] == "0x" + big[len(first)].raw.hex()
    with pytest.raises(ValueError):
        pending([1_000])


def test_proposals_and_pending_pages_on_a_dev_node(
    dev_node: NodeProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = dev_node.client
    for value in (150_000, 160_000, 170_000):
        args = {"action": "set_param", "args": {"name": "burn_rate_ppm", "value": value}}
        client.wait(client.submit_call(BOB, "governance", "propose", args))
    assert [p["id"] for p in dev_node.rpc("vcoin_proposals")] == [0, 1, 2]
    assert [p["id"] for p in dev_node.rpc("vcoin_proposals", 2)] == [0, 1]
    assert [p["id"] for p in dev_node.rpc("vcoin_proposals", 2, 1)] == [2]
    monkeypatch.setattr(paging, "PAGE", 2)
    assert [p["id"] for p in paging.every_page(client, "vcoin_proposals")] == [0, 1, 2]
    assert [p["id"] for p in dev_node.cli_json("gov", "list")] == [0, 1, 2]
    assert paging.every_page(client, "vcoin_models", key=lambda model: model["hash"])

    nonce = client.next_nonce(EVE.public) + 5  # a gap: these wait in the pool
    for offset in range(3):
        transfer = client.sign(
            EVE, "balances", "transfer", {"to": BOB.public, "amount": 1}, nonce=nonce + offset
        )
        client.submit(transfer)
    everything = dev_node.rpc("author_pendingExtrinsics")
    assert len(everything) == 3
    assert dev_node.rpc("author_pendingExtrinsics", 2) == everything[:2]
    assert dev_node.rpc("author_pendingExtrinsics", 2, 2) == everything[2:]
    assert dev_node.rpc("vcoin_jobs") == [] and dev_node.rpc("vcoin_jobsPage", {}, 5) == {
        "jobs": [],
        "next": None,
    }
