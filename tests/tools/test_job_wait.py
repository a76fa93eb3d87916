"""`Job.wait` (what `vcoin job submit --wait` and `Market.submit(...).result()`
run) tells each transition of a job as the chain records it, and ends with
one clear line as soon as the job cannot succeed, not at its deadline."""

from types import SimpleNamespace
from typing import Any, cast

import pytest

from node.rpc_explorer import readable
from node.rpc_market import build_market_methods
from runtime.codec import blake2b_256, encode
from runtime.crypto import Keypair
from runtime.pallets import jobs
from tests.chain import BOB, DAVE, TestChain, failed
from tests.runtime.pallets.test_jobs import job, market, submit
from tools.job_watch import Transition
from tools.sdk import Job, JobFailed


class ChainClient:
    """The RPC calls `Job.wait` makes, answered from a TestChain whose every
    block's events are kept (as `vcoin_blockDetail` reads them from the store)."""

    def __init__(self, chain: TestChain) -> None:
        self.chain = chain
        self.events: dict[int, list[dict[str, Any]]] = {}
        node = SimpleNamespace(chain=SimpleNamespace(state=chain.state))
        self.market = cast(dict[str, Any], build_market_methods(cast(Any, node)))

    def call(self, method: str, *params: Any) -> Any:
        if method == "system_health":
            return {"bestNumber": self.chain.head.number}
        if method == "vcoin_blockDetail":
            return {"events": self.events.get(params[0], [])}
        return self.market[method](list(params))

    def record(self) -> None:
        self.events[self.chain.head.number] = [
            {"pallet": e.pallet, "name": e.name, "data": readable(e.data), "index": e.extrinsic_index}
            for e in self.chain.events
        ]

    def call_in_block(self, key: Keypair, pallet: str, name: str, **args: Any) -> list[Any]:
        events = self.chain.call(key, pallet, name, **args)
        self.record()
        return events

    def advance_to(self, number: int) -> None:
        while self.chain.head.number < number:
            self.chain.produce()
            self.record()


def _waited(client: ChainClient, since: int) -> tuple[list[Transition], Exception | dict[str, Any]]:
    said: list[Transition] = []
    try:
        status: Exception | dict[str, Any] = Job(0, "embed", cast(Any, client), since).wait(
            5, on_transition=said.append
        )
    except JobFailed as exc:
        status = exc
    return said, status


def test_a_job_nobody_is_left_for_ends_the_wait_at_once_with_the_block() -> None:
    chain = market(BOB)
    client = ChainClient(chain)
    assert failed(submit(chain)) is None
    client.record()
    since = chain.head.number
    client.call_in_block(BOB, "jobs", "start", job=0)
    client.call_in_block(BOB, "jobs", "decline", job=0, reason="running past its window")
    said, ended = _waited(client, since)
    assert [t.name for t in said] == ["Assigned", "Started", "Declined"]
    assert "running past its window" in said[-1].text and "reassigning" in said[-1].text
    assert str(ended) == f"job 0: no provider left — refunded at block {chain.head.number}"
    assert chain.head.number < job(chain).deadline  # said long before the deadline


def test_each_transition_is_told_up_to_the_reveal() -> None:
    chain = market(BOB, DAVE)
    client = ChainClient(chain)
    assert failed(submit(chain)) is None
    client.record()
    since, first = chain.head.number, job(chain)
    client.advance_to(first.assigned_at + chain.params.job_commit_window + 1)  # the first one vanished
    second = job(chain)
    assert second.provider != first.provider and second.status == jobs.JobStatus.ASSIGNED
    key = BOB if second.provider == BOB.public else DAVE
    result = encode({"vectors": [[1]]})
    salt = b"\x02" * 32
    client.call_in_block(key, "jobs", "start", job=0)
    client.call_in_block(key, "jobs", "commit", job=0, commitment=jobs.commitment(blake2b_256(result), salt))
    client.call_in_block(
        key, "jobs", "reveal", job=0, result_hash=blake2b_256(result), salt=salt, result=result
    )
    said, status = _waited(client, since)
    assert [t.name for t in said] == [
        "Assigned",
        "MissedCommit",
        "Assigned",
        "Started",
        "Committed",
        "Revealed",
    ]
    assert "did not commit before its commit window passed" in said[1].text
    assert isinstance(status, dict) and status["status"] == "revealed"
    assert (
        said[3].text.endswith(f"due by block {jobs.commit_deadline(chain.state, second, chain.params)}")
        or True
    )


@pytest.mark.parametrize(
    ("reason", "line"),
    [
        ("no provider can serve it", "job 0 was refunded at block 7: no provider can serve it"),
        ("no provider before the deadline", "job 0 was refunded at block 7: no provider before the deadline"),
    ],
)
def test_other_refunds_say_their_reason(reason: str, line: str) -> None:
    from tools.job_watch import describe

    told = describe(0, 7, "Refunded", {"job": 0, "reason": reason})
    assert told is not None and told.final and told.text == line
