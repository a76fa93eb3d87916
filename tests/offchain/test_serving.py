"""The provider's serving desk over the test chain: a cheque is accepted only
when it is the session's next, prices exactly the request, stays within the
deposit and is signed by the session key; a failed run consumes nothing;
settles go out as often as the chain allows and are taken by the chain;
free tokenizer calls are bounded by paid ones. (The executor is a stub: the
real ones have their own tests, and tests/node/test_openai_api.py runs the
whole path with the real model.)"""

from pathlib import Path
from typing import Any

import pytest
import trio

from agent.executor import Check, Execution, ExecutorError, OnPiece
from agent.job import JobSpec
from offchain.serving import FREE_TOKENIZER_CALLS, SETTLE_EVERY, ServeError, ServingDesk
from offchain.session_store import SessionStore
from runtime.codec import blake2b_256, encode
from runtime.constants import SESSION_YOUNG_BATCHES, UNIT
from runtime.crypto import Keypair
from runtime.pallets import sessions
from runtime.pallets.job_types import JobKind
from runtime.session_request import encode_request, parse_request, request_hash
from runtime.types import Extrinsic, cheque_payload
from tests.chain import EVE, FERDIE, TestChain, failed
from tests.offchain.view import ChainOfTest

MODEL = blake2b_256(b"an embedding model only the stub executor knows")
PRICE = 1_000
RESULT = encode({"vectors": [[1, 2, 3]]})


class StubExecutor:
    name = "stub"

    def __init__(self) -> None:
        self.runs: list[JobSpec] = []
        self.fail = False

    def run(
        self, spec: JobSpec, model_path: Path, timeout: float, on_piece: OnPiece | None = None
    ) -> Execution:
        if self.fail:
            raise ExecutorError("the sandbox died")
        self.runs.append(spec)
        payload = encode({"prompt": "rendered"}) if spec.kind == "tokenizer" else RESULT
        return Execution(payload, blake2b_256(payload), 0.001)

    def verify(self, spec: JobSpec, model_path: Path, claimed: bytes, timeout: float) -> Check:
        raise AssertionError("a desk never verifies")

    def close(self) -> None:
        pass


class Setup:
    def __init__(self, tmp: Path, deposit: int = UNIT) -> None:
        self.chain = TestChain(replicate=False)
        self.chain.call(EVE, "registry", "register_model", hash=MODEL, model_name="stub-embed", kind="embed",
                        params=20_000_000, memory_mb=64)  # fmt: skip
        self.chain.call(EVE, "staking", "bond", amount=1_000 * UNIT)
        self.chain.call(EVE, "registry", "register_provider", models=[MODEL], memory_mb=4096, price=PRICE)
        self.key = Keypair.generate()
        events = self.chain.call(FERDIE, "sessions", "open", model=MODEL, provider=b"", deposit=deposit,
                                 max_price=PRICE, min_reputation=0, expiry=self.chain.head.number + 500,
                                 session_key=self.key.public)  # fmt: skip
        assert failed(events) is None
        self.session = next(e for e in events if e.name == "Opened").data["session"]
        self.view = ChainOfTest(self.chain, EVE)
        self.executor = StubExecutor()
        self.desk = ServingDesk(self.view, self.executor, {MODEL: tmp / "model"}, SessionStore(tmp / "sessions"),
                                trio.CapacityLimiter(1), self.chain.chain_id)  # fmt: skip
        self.seq, self.units = 0, 0

    def cheque(self, raw: bytes, units: int | None = None, seq: int | None = None,
               key: Keypair | None = None) -> dict[str, Any]:  # fmt: skip
        seq = self.seq + 1 if seq is None else seq
        total = self.units + parse_request(raw, JobKind.EMBED).units(20) if units is None else units
        signature = (key or self.key).sign(cheque_payload(self.chain.chain_id, self.session, seq, total,
                                                          request_hash(raw)))  # fmt: skip
        return {"seq": seq, "units": total, "request_hash": request_hash(raw), "signature": signature}

    def serve(self, raw: bytes, cheque: dict[str, Any]) -> Any:
        answer = trio.run(self.desk.serve, self.session, cheque, raw)
        self.seq, self.units = cheque["seq"], cheque["units"]
        return answer

    def refused(self, raw: bytes, cheque: dict[str, Any]) -> str:
        with pytest.raises(ServeError) as raised:
            trio.run(self.desk.serve, self.session, cheque, raw)
        return raised.value.code


def _request(text: str = "a sentence") -> bytes:
    return encode_request("embed", [text], {})


def test_the_next_cheque_is_served_and_logged(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    raw = _request()
    answer = setup.serve(raw, setup.cheque(raw))
    assert (
        answer.seq == 1
        and answer.result == RESULT
        and answer.units == parse_request(raw, JobKind.EMBED).units(20)
    )
    log = setup.desk.store.log(setup.session)
    assert log.count == 1 and log.cheque() is not None and log.served(0).request == raw


def test_wrong_cheques_are_refused_and_consume_nothing(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    raw = _request()
    assert setup.refused(raw, setup.cheque(raw, seq=2)) == "bad_sequence"
    assert setup.refused(raw, setup.cheque(raw, units=1)) == "bad_units"
    assert setup.refused(raw, setup.cheque(raw, key=Keypair.generate())) == "bad_signature"
    assert setup.refused(_request("another"), setup.cheque(raw)) == "bad_cheque"
    assert setup.refused(encode_request("inference", "a prompt", {}), setup.cheque(raw)) == "bad_request"
    setup.executor.fail = True
    assert setup.refused(raw, setup.cheque(raw)) == "failed"
    setup.executor.fail = False
    assert setup.desk.store.log(setup.session).count == 0
    assert setup.serve(raw, setup.cheque(raw)).seq == 1  # the same seq, now served


def test_a_cheque_over_the_deposit_is_refused(tmp_path: Path) -> None:
    raw = _request()
    setup = Setup(tmp_path, deposit=parse_request(raw, JobKind.EMBED).units(20) * PRICE)
    setup.serve(raw, setup.cheque(raw))
    assert setup.refused(raw, setup.cheque(raw)) == "deposit_exhausted"


def _settles(setup: Setup) -> list[str]:
    names = [Extrinsic.decode(r).call.name for r in setup.view.sent]
    assert set(names) <= {"settle", "publish"}  # publications: the samples the chain drew, if any
    return [n for n in names if n == "settle"]


def test_settles_follow_the_chains_interval_and_are_taken(tmp_path: Path) -> None:
    """At once after the first requests, then as often as the chain allows
    for a young session's first batches, then every SETTLE_EVERY blocks."""
    setup = Setup(tmp_path)
    for i in range(3):
        setup.serve(_request(f"text {i}"), setup.cheque(_request(f"text {i}")))
    setup.desk.step(setup.chain.head.number)
    assert _settles(setup) == ["settle"]
    setup.view.flush()
    found = sessions.session(setup.chain.state, setup.session)
    assert found is not None and found.seq == 3 and found.paid == setup.units * PRICE
    for batch in range(1, SESSION_YOUNG_BATCHES + 1):
        setup.serve(_request(f"more {batch}"), setup.cheque(_request(f"more {batch}")))
        setup.desk.step(setup.chain.head.number)
        assert _settles(setup) == []  # too soon after the last settle
        found = sessions.session(setup.chain.state, setup.session)
        assert found is not None
        setup.chain.advance_to(sessions.next_settle(found) - 1)
        setup.desk.step(setup.chain.head.number)
        young = batch < SESSION_YOUNG_BATCHES
        assert _settles(setup) == (["settle"] if young else [])  # a grown session waits: little is owed
        setup.view.flush()
    setup.chain.advance_to(found.settled_at + SETTLE_EVERY - 1)
    setup.desk.step(setup.chain.head.number)
    assert _settles(setup) == ["settle"]
    setup.view.flush()
    settled = sessions.session(setup.chain.state, setup.session)
    assert (
        settled is not None
        and settled.seq == 3 + SESSION_YOUNG_BATCHES
        and settled.batches == SESSION_YOUNG_BATCHES + 1
    )


def test_failed_runs_are_free_work_bounded_by_paid_requests(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    raw = _request()
    setup.executor.fail = True
    for _ in range(FREE_TOKENIZER_CALLS + 1):
        assert setup.refused(raw, setup.cheque(raw)) == "failed"
    assert setup.refused(raw, setup.cheque(raw)) == "busy"  # not even run
    assert len(setup.executor.runs) == 0
    setup.executor.fail = False
    assert setup.refused(raw, setup.cheque(raw)) == "busy"  # a paid request is needed, and none can run


def test_free_tokenizer_calls_are_bounded_by_paid_requests(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    for _ in range(FREE_TOKENIZER_CALLS):
        assert trio.run(setup.desk.tokenizer, setup.session, {"op": "chat", "messages": []}) == {
            "prompt": "rendered"
        }
    with pytest.raises(ServeError):
        trio.run(setup.desk.tokenizer, setup.session, {"op": "chat", "messages": []})
    setup.serve(_request(), setup.cheque(_request()))
    trio.run(setup.desk.tokenizer, setup.session, {"op": "chat", "messages": []})
