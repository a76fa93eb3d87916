"""Known-answer sessions over a test chain, with a stub executor for the
validator's own answers and a stub `serve` standing in for the provider's
desk: an honest provider is never challenged and the session is closed at
once; a provider answering garbage is challenged on each wrong seq once it
settles (and a restarted worker still does it); a dead provider never
blocks the worker."""

import random
from pathlib import Path
from typing import Any

import pytest
import trio

from agent.canonical import encode as encode_result
from agent.canonical import to_fixed
from agent.executor import Execution, OnPiece
from agent.job import JobSpec
from genesis.spec import local_spec
from offchain.known_answer_sessions import KnownAnswerSessions
from offchain.records import RecordDir
from runtime.codec import blake2b_256
from runtime.constants import UNIT
from runtime.pallets import registry, session_audits, sessions
from runtime.pallets.job_types import JobKind
from runtime.session_log import root
from runtime.session_request import parse_request
from runtime.types import Extrinsic
from tests.chain import ALICE, EVE, TestChain, failed
from tests.offchain.view import ChainOfTest
from tests.runtime.pallets.test_session_checks import EMBED, PRICE, Log, named


def vectors(texts: list[str], garbage: bool = False) -> bytes:
    rows = [[-1.0, 3.0, -0.5] if garbage else [float(len(t)), 1.0, 2.0] for t in texts]
    return encode_result({"vectors": to_fixed(rows)})


class StubExecutor:
    def run(
        self, spec: JobSpec, model_path: Path, timeout: float, on_piece: OnPiece | None = None
    ) -> Execution:
        encoded = vectors(list(spec.input))
        return Execution(encoded, blake2b_256(encoded), 0.0)

    def close(self) -> None:
        pass


class Desk:
    """The provider's desk: logs each request as the real one does, and answers
    right, garbage, or never."""

    def __init__(self, mode: str) -> None:
        self.mode, self.log, self.cheque = mode, Log(), None
        self.calls = 0

    async def __call__(self, provider: bytes, message: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        assert provider == EVE.public and message["op"] == "serve"
        if self.mode == "dead":
            await trio.sleep_forever()
        cheque, raw = message["cheque"], message["request"]
        assert cheque["seq"] == len(self.log.records) + 1 and cheque["request_hash"] == blake2b_256(raw)
        texts = parse_request(raw, JobKind.EMBED).input
        result = vectors(texts, garbage=self.mode == "garbage")
        self.log.serve("", request=raw, result=result)
        self.cheque = cheque
        seq, _, _, units = self.log.records[-1]
        return {"ok": True, "seq": seq, "units": units, "result": result, "result_hash": blake2b_256(result),
                "leaf": self.log.leaves[-1]}  # fmt: skip


class Harness:
    def __init__(self, tmp_path: Path, mode: str) -> None:
        self.chain = TestChain(local_spec(), replicate=False)
        self.chain.call(EVE, "staking", "bond", amount=1_000 * UNIT)
        self.chain.call(EVE, "registry", "register_provider", models=[EMBED], memory_mb=4096, price=PRICE)
        self.view = ChainOfTest(self.chain, ALICE)
        self.desk = Desk(mode)
        self.records = tmp_path / "records"
        self.tmp_path = tmp_path
        self.tester = self.fresh()

    def fresh(self) -> KnownAnswerSessions:
        """A worker (again, as after a restart) over the same records."""
        tester = KnownAnswerSessions(
            self.view, StubExecutor(), {EMBED: self.tmp_path}, RecordDir(self.records), ALICE.seed,  # type: ignore[arg-type]
            trio.CapacityLimiter(1), rng=random.Random(7), serve_timeout=0.2,
        )  # fmt: skip
        tester.serve = self.desk
        return tester

    def step(self, start: bool = False) -> list[tuple[str, str]]:
        """One block step of the worker (its tasks run to their end); the
        calls it sent, then a block built with them."""

        async def once() -> None:
            async with trio.open_nursery() as nursery:
                if start:
                    model = registry.model(self.chain.state, EMBED)
                    assert model is not None
                    self.tester.start(nursery, EVE.public, model)
                self.tester.step(nursery)

        trio.run(once)
        sent = [(c.pallet, c.name) for c in (Extrinsic.decode(raw).call for raw in self.view.sent)]
        self.view.flush()
        assert all(failed([e]) is None for e in self.chain.events if e.name == "ExtrinsicFailed"), (
            self.chain.events
        )
        return sent

    def served(self) -> int:
        """Open, and serve every request: the session's id."""
        assert self.step(start=True) == []  # answers computed, the record kept
        assert self.step() == [("balances", "transfer")]  # the paying account funded
        assert self.step() == [("sessions", "open")]
        self.step()  # the session found: its requests served
        (probe,) = self.tester.probes.values()
        assert probe.phase == "watching" and probe.session >= 0
        return probe.session

    def settle(self, session: int) -> None:
        log = self.desk.log
        count = len(log.records)
        events = self.chain.call(EVE, "sessions", "settle", session=session, log_root=root(log.leaves[:count]),
                                 count=count, cheque=self.desk.cheque)  # fmt: skip
        assert failed(events) is None


def test_an_honest_provider_is_never_challenged_and_its_session_closed_and_refunded(tmp_path: Path) -> None:
    h = Harness(tmp_path, "honest")
    session = h.served()
    (probe,) = h.tester.probes.values()
    assert probe.answered == len(probe.requests) == h.desk.calls and probe.wrong == []
    found = sessions.session(h.chain.state, session)
    assert found is not None and found.user == h.tester.accounts[probe.account].public
    assert found.user != ALICE.public and found.key != found.user  # an unlinked account, a fresh key
    assert h.step() == [("sessions", "close")]
    h.settle(session)  # in the close window
    sent: list[tuple[str, str]] = []
    while sessions.session(h.chain.state, session) is not None:
        sent += h.step()
    assert ("sessions", "challenge") not in sent
    h.step()
    assert h.tester.probes == {} and list(RecordDir(h.records).names()) == []
    assert h.chain.account(found.user).reserved == 0  # refunded


def test_a_provider_answering_garbage_is_challenged_after_its_settle(tmp_path: Path) -> None:
    h = Harness(tmp_path, "garbage")
    session = h.served()
    (probe,) = h.tester.probes.values()
    assert probe.wrong == list(range(1, len(probe.requests) + 1))
    assert h.step() == []  # nothing settled yet: nothing to challenge, no close
    h.settle(session)
    h.tester = h.fresh()  # a restart keeps the evidence and the session key
    sent = h.step()
    assert sent == [("sessions", "challenge")] * len(probe.wrong)
    challenged = [e.data for e in h.chain.events if e.name == "Challenged"]
    assert [c["seq"] for c in challenged] == probe.wrong
    owed = session_audits.owed(h.chain.state, EVE.public)
    assert sorted(i for a in owed for i in a.leaves) == [s - 1 for s in probe.wrong]
    assert h.step() == []  # the resend interval
    for _ in range(5):
        if h.step() == [("sessions", "close")]:
            break
    else:
        pytest.fail("the session was not closed after its challenges")
    assert ("sessions", "challenge") not in [c for _ in range(3) for c in h.step()]
    assert named(h.chain.events, "ExtrinsicFailed") == []


def test_a_dead_provider_does_not_block_the_worker(tmp_path: Path) -> None:
    h = Harness(tmp_path, "dead")
    h.served()  # within the request's timeout
    (probe,) = h.tester.probes.values()
    assert (probe.answered, probe.in_flight, probe.wrong) == (0, True, [])
    assert h.step() == [("sessions", "close")]
    assert h.desk.calls == 1  # the unanswered request is never sent again


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__(1)
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize("chance", [0.0, 0.99])
def test_each_era_draws_the_providers_to_test_at_the_known_answer_rate(tmp_path: Path, chance: float) -> None:
    h = Harness(tmp_path, "honest")
    h.tester.rng = FixedRandom(chance)  # under 5%: tested; above: not

    async def once() -> None:
        async with trio.open_nursery() as nursery:
            h.tester.step(nursery)

    trio.run(once)
    tested = {p.provider for p in h.tester.probes.values()}
    assert (EVE.public in tested) is (chance == 0.0) and ALICE.public not in tested
    h.tester.rng = FixedRandom(0.0)
    trio.run(once)  # the same era: no second draw
    assert {p.provider for p in h.tester.probes.values()} == tested
