"""The off-chain side of sampled session verification over a test chain:
the provider's `publish_due` publishes its sampled leaves from its
`SessionStore` (and resends only after a few blocks), and the verifier
worker re-executes a published sample (here by a stub executor) and its
verdict clears the batch."""

from pathlib import Path
from typing import Any

import pytest
import trio

from agent.executor import Check
from agent.job import JobSpec
from offchain.blobs import BlobStore
from offchain.session_publisher import RESEND_AFTER, publish_due
from offchain.session_store import Served, SessionStore
from offchain.verifier import VerifierWorker
from runtime.codec import blake2b_256, encode
from runtime.constants import MAX_CHALLENGES_PER_BATCH, MAX_EXTRINSIC_BYTES, MAX_SAMPLED_LEAVES
from runtime.pallets import session_audits, session_checks, verification
from runtime.types import Extrinsic
from tests.chain import EVE, failed
from tests.offchain.view import ChainOfTest
from tests.runtime.pallets.test_session_checks import EMBED, RESULT, VALIDATORS, Market, named


class StubExecutor:
    """Says whether the claimed result is the one it was told is right."""

    def __init__(self, right: bytes) -> None:
        self.right, self.seen = right, []  # type: ignore[var-annotated]

    def verify(self, spec: JobSpec, model_path: Path, claimed: bytes, timeout: float) -> Check:
        self.seen.append(spec)
        return Check(claimed == self.right, "stub", 0.0)

    def close(self) -> None:
        pass


def _served_market(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, texts: tuple[str, ...] = ("first", "second"),
    result: bytes = RESULT,
) -> tuple[Market, SessionStore]:  # fmt: skip
    m = Market(monkeypatch)
    store = SessionStore(tmp_path / "sessions")
    for text in texts:
        m.log.serve(text, result=result)
        seq, request, result, units = m.log.records[-1]
        store.log(0).append(Served(seq, request, result, units), blake2b_256(request), blake2b_256(result))
    assert store.log(0).leaves == m.log.leaves
    assert not named(m.settle(len(texts)), "ExtrinsicFailed")
    return m, store


def _published(view: ChainOfTest) -> list[list[int]]:
    """The leaves of each `sessions.publish` the view sent, then the block built with them."""
    calls = [Extrinsic.decode(raw).call for raw in view.sent]
    assert all((c.pallet, c.name) == ("sessions", "publish") for c in calls)
    view.flush()
    return [[i["index"] for i in c.args["items"]] for c in calls]


def test_publish_due_splits_only_what_one_extrinsic_cannot_carry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    big = encode({"vectors": [[7] * 10]}) + b"\0" * 32_600  # near MAX_PUBLISHED_RESULT: two do not fit
    m, store = _served_market(monkeypatch, tmp_path, ("a", "b", "c"), result=big)
    view = ChainOfTest(m.chain, EVE)
    assert m.drawn().leaves == (0, 1, 2)
    publish_due(view, store, m.chain.head.number)
    assert all(len(raw) <= MAX_EXTRINSIC_BYTES for raw in view.sent)
    assert _published(view) == [[0], [1], [2]]
    assert [p["leaf"] for p in named(m.chain.events, "SamplePublished")] == [0, 1, 2]
    assert session_audits.owed(m.chain.state, EVE.public) == []


def test_publish_due_sends_a_sessions_sampled_and_challenged_leaves_together(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    texts = tuple(f"request {n}" for n in range(20))
    m, store = _served_market(monkeypatch, tmp_path, texts)
    view = ChainOfTest(m.chain, EVE)
    drawn = m.drawn().leaves
    assert len(drawn) == MAX_SAMPLED_LEAVES
    others = [i for i in range(20) if i not in drawn][:MAX_CHALLENGES_PER_BATCH]
    for index in others:
        assert failed(m.challenge(index + 1)) is None
    publish_due(view, store, m.chain.head.number)
    calls = _published(view)
    assert [len(c) for c in calls] == [MAX_SAMPLED_LEAVES, MAX_CHALLENGES_PER_BATCH]  # at most 8 items a call
    assert sorted(i for c in calls for i in c) == sorted([*drawn, *others])
    assert len(named(m.chain.events, "SamplePublished")) == MAX_SAMPLED_LEAVES + MAX_CHALLENGES_PER_BATCH
    assert session_audits.owed(m.chain.state, EVE.public) == []


def test_publish_due_publishes_each_owed_leaf_once_per_resend_interval(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    m, store = _served_market(monkeypatch, tmp_path)
    view = ChainOfTest(m.chain, EVE)
    publish_due(view, store, m.chain.head.number)
    assert view.sent == []  # nothing drawn yet
    found = m.drawn()
    publish_due(view, store, m.chain.head.number)
    assert len(found.leaves) == 2 and len(view.sent) == 1  # one call for the session's owed leaves
    (call,) = [Extrinsic.decode(raw).call for raw in view.sent]
    assert (call.name, call.args["session"], [i["index"] for i in call.args["items"]]) == (
        "publish",
        0,
        [0, 1],
    )
    first = view.sent
    view.sent, view.pending = [], {}  # lost from the pool
    publish_due(view, store, m.chain.head.number + RESEND_AFTER - 1)
    assert view.sent == []
    publish_due(view, store, m.chain.head.number + RESEND_AFTER)
    assert view.sent == first
    view.flush()
    published = named(m.chain.events, "SamplePublished")
    assert [p["leaf"] for p in published] == [0, 1]
    assert session_audits.owed(m.chain.state, EVE.public) == []
    publish_due(view, store, m.chain.head.number + 10)
    assert view.sent == []


@pytest.mark.parametrize("honest", [True, False])
def test_the_verifier_worker_judges_a_published_sample(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, honest: bool
) -> None:
    m, store = _served_market(monkeypatch, tmp_path)
    m.drawn()
    provider = ChainOfTest(m.chain, EVE)
    publish_due(provider, store, m.chain.head.number)
    provider.flush()
    check_id = named(m.chain.events, "SamplePublished")[0]["check"]
    assert session_checks.is_session_check(check_id)
    (verifier,) = m.verifiers(check_id)
    view = ChainOfTest(m.chain, VALIDATORS[verifier.public])
    executor = StubExecutor(RESULT if honest else b"another result")
    worker = VerifierWorker(view, executor, {EMBED: tmp_path}, BlobStore(tmp_path / "blobs"))  # type: ignore[arg-type]

    async def once() -> None:
        async with trio.open_nursery() as nursery:
            worker.step(nursery)

    trio.run(once)
    spec: Any = executor.seen[0]
    assert (spec.kind, spec.options) == ("embed", {})
    assert spec.input == [["first", "second"][session_checks.sample(m.chain.state, check_id).leaf]]  # type: ignore[union-attr]
    assert len(view.sent) == 1
    view.flush()
    verdict = next(e for e in m.chain.events if e.name == "Verdict")
    assert verdict.data["match"] is honest and verdict.data["job"] == check_id
    expected = verification.CheckStatus.PASSED if honest else verification.CheckStatus.DISPUTED
    assert verification.check(m.chain.state, check_id).status == expected  # type: ignore[union-attr]
