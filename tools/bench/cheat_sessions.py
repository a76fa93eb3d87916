"""`vcoin bench cheat --sessions`: the cheat simulation over sessions.

The same real runtime as `cheat_bench` (real executive and pallets, signed
extrinsics), with requests served through sessions instead of jobs:

- users open sessions without naming a provider (the chain picks one by
  stake x reputation), send `rate` embedding requests per block each, and
  close the session after 50 to 250 requests; the chain picks the next one;
- each provider keeps a request log per session as `offchain.serving` does
  (leaf `seq - 1` per request), settles `(root, count, latest cheque)` by
  the desk's own policy (`ServingDesk.worth_settling`: the first batch at
  once, then every `SETTLE_EVERY` blocks or sooner when much is owed, never
  more often than `SESSION_SETTLE_INTERVAL`, and once more after a close), and
  publishes the sampled (and challenged) leaves as `offchain.session_publisher`
  does;
- the four validators re-execute each published leaf they are drawn for and
  judge it with the real `embed.compare` rule (disputes and majority are the
  runtime's), and run known-answer sessions as
  `offchain.known_answer_sessions` does: once an era, for each provider, each
  validator opens a test session with chance `known_answer_rate_ppm`, from an
  unlinked funded account, with 2 to 4 requests whose answers it computed
  first; a wrong answer's seq is challenged once the provider has settled it,
  and the session is closed.

Strategies (the providers cannot tell a test session from a user's):

- honest: the true output plus hardware-like noise (1e-5 per component);
- lazy: random vectors;
- intermittent_p: honest, but lazy with probability p per request;
- copycat: answers with the result of an earlier request it served (a stale
  cache that ignores its input; its very first answer is honest);
- withholder: lazy, and never publishes a sampled or challenged leaf: it takes
  the missed-publication slash (5%, the batch refunded) rather than be
  convicted of a mismatch (20% and an era without work).

Verification compute is the validators' executions (sampled leaves, dispute
re-executions, known answers) over the providers' (every request served).
"""

import hashlib
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from agent.canonical import decode, encode, to_fixed
from agent.kinds import embed
from genesis.spec import build_spec
from offchain.serving import PUBLISH_GRACE, ServingDesk
from runtime.codec import blake2b_256
from runtime.constants import (
    MAX_SAMPLED_LEAVES,
    MAX_SESSIONS_PER_ACCOUNT,
    PPM,
    SESSION_SETTLE_INTERVAL,
    UNIT,
)
from runtime.crypto import Keypair
from runtime.executive import build_block
from runtime.genesis_state import build_genesis
from runtime.pallets import (
    balances,
    registry,
    session_audits,
    session_checks,
    sessions,
    staking,
    system,
    verification,
)
from runtime.pallets.job_types import JobKind
from runtime.pallets.session_records import Challenged
from runtime.pallets.session_types import batch_key
from runtime.session_log import leaf, proof, root
from runtime.session_request import encode_request, parse_request, request_hash
from runtime.state import State
from runtime.types import Call, Extrinsic, cheque_payload
from tools.bench.cheat_bench import _p99, true_vector

MODEL = hashlib.blake2b(b"vcoin-sim-model", digest_size=32).digest()
STRATEGIES = {
    "honest": 0.0, "lazy": 1.0, "copycat": 1.0, "intermittent_0.2": 0.2, "intermittent_0.05": 0.05,
    "withholder": 1.0,
}  # fmt: skip
ALWAYS = ("lazy", "copycat", "withholder")  # the always-cheating strategies the targets speak of
DIM = 16
PRICE = 1_000  # base units per work unit, every provider's
SESSION_LENGTH = (50, 250)  # requests per user session
RESEND_AFTER = 5  # blocks before a settle, publication or challenge is sent again
# offchain.known_answer_sessions
KA_MAX_OPEN = 2  # test sessions in flight per validator
KA_REQUESTS = (2, 4)
KA_ACCOUNTS = 4  # unlinked accounts per validator (16 in production; enough here)
KA_WAIT_FOR_SETTLE = 60
KA_SESSION_BLOCKS = 600
DRAIN_BLOCKS = 120  # blocks after the last request for the last settles, draws and checks


def vector_result(texts: list[str], rng: random.Random, noise: float = 1e-5) -> bytes:
    return encode({"vectors": [to_fixed([x + rng.gauss(0, noise) for x in true_vector(t.encode())])
                               for t in texts]})  # fmt: skip


def reference(texts: list[str], rng: random.Random) -> dict[str, Any]:
    """A validator's own execution: the true output with its own hardware noise."""
    return {"vectors": [to_fixed([x + rng.gauss(0, 1e-5) for x in true_vector(t.encode())]) for t in texts]}


def texts_of(raw: bytes) -> list[str]:
    return list(parse_request(raw, JobKind.EMBED).input)


@dataclass
class Log:
    """A provider's request log of one session, as `offchain.session_store` keeps it."""

    key: Keypair  # the session's key: the user signs each request's cheque with it
    records: list[tuple[int, bytes, bytes, int]] = field(default_factory=list)  # seq, request, result, units
    leaves: list[bytes] = field(default_factory=list)
    units: int = 0  # cumulative


@dataclass
class Desk:
    key: Keypair
    strategy: str
    served: int = 0
    first_slash: int | None = None
    offence: str = ""
    slashes: int = 0
    checked: int = 0  # validators' executions of its work: its leaves' checks and disputes, known answers
    logs: dict[int, Log] = field(default_factory=dict)
    settle_sent: dict[int, tuple[int, int]] = field(default_factory=dict)  # session -> (seq, block)
    publish_sent: dict[tuple[int, int, int], int] = field(default_factory=dict)
    results: list[bytes] = field(default_factory=list)  # what a copycat replays


@dataclass
class User:
    key: Keypair
    session: int = -1
    opening: int = -1  # block the open was sent in
    left: int = 0


@dataclass
class Probe:
    validator: Keypair
    account: Keypair
    provider: bytes
    key: Keypair
    requests: list[bytes]
    expected: list[dict[str, Any]]
    units: list[int]
    started: int
    phase: str = "opening"
    session: int = -1
    wrong: list[int] = field(default_factory=list)
    challenged: dict[int, int] = field(default_factory=dict)  # seq -> block sent
    served_until: int = 0
    sent: int = -1


@dataclass
class Sim:
    rng: random.Random
    chain_id: bytes
    state: State
    desks: dict[bytes, Desk]
    validators: list[Keypair]
    users: list[User]
    ka_accounts: dict[bytes, list[Keypair]]
    rate: int
    parent: bytes = b"\x00" * 32
    number: int = 0
    nonces: dict[bytes, int] = field(default_factory=dict)
    pending: list[bytes] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    answered: set[tuple[int, bytes]] = field(default_factory=set)
    era: int = -1
    provider_runs: int = 0
    verifier_runs: int = 0
    known_runs: int = 0
    user_requests: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)

    def sign(self, key: Keypair, pallet: str, name: str, args: dict[str, Any]) -> None:
        nonce = self.nonces.get(key.public, 0)
        self.nonces[key.public] = nonce + 1
        self.pending.append(Extrinsic.sign(key, self.chain_id, nonce, Call(pallet, name, args)).encode())
        self.counts[f"{pallet}.{name}"] += 1

    def block(self) -> None:
        self.number += 1
        built = build_block(self.state, self.parent, self.number, self.validators[0].public, self.pending)
        assert not built.rejected and not built.bugs, (built.rejected[:1], built.bugs[:1])
        included = set(built.block.extrinsics)
        self.pending = [raw for raw in self.pending if raw not in included]  # a full block: the rest next
        self.parent, self.events = built.block.hash, list(built.events)
        for event in self.events:
            if event.name == "ExtrinsicFailed":
                self.failures[str(event.data["error"])] += 1
            elif event.name == "Slashed" and event.data["who"] in self.desks:
                desk = self.desks[event.data["who"]]
                desk.slashes += 1
                if desk.first_slash is None:
                    desk.first_slash, desk.offence = desk.served, str(event.data["offence"])
            elif event.pallet == "sessions" and event.name in ("Challenged", "BatchSampled", "SamplePublished",
                                                               "PublicationMissed", "BatchRejected"):  # fmt: skip
                self.counts[f"event.{event.name}"] += 1

    # -- a provider's desk ---------------------------------------------------------
    def serve(self, desk: Desk, session_id: int, key: Keypair, raw: bytes) -> bytes:
        """The provider answers a request by its strategy and logs it."""
        texts = texts_of(raw)
        cheat = desk.strategy != "honest" and self.rng.random() < STRATEGIES[desk.strategy]
        if not cheat or (desk.strategy == "copycat" and not desk.results):
            result = vector_result(texts, self.rng)
        elif desk.strategy == "copycat":
            result = self.rng.choice(desk.results[-50:])
        else:
            result = encode(
                {"vectors": [to_fixed([self.rng.gauss(0, 1) for _ in range(DIM)]) for _ in texts]}
            )
        desk.results.append(result)
        units = parse_request(raw, JobKind.EMBED).units(1)
        log = desk.logs.setdefault(session_id, Log(key))
        log.units += units
        seq = len(log.records) + 1
        log.records.append((seq, raw, result, units))
        log.leaves.append(leaf(seq, blake2b_256(raw), blake2b_256(result), units))
        desk.served += 1
        self.provider_runs += 1
        return result


def _units(raw: bytes) -> int:
    return parse_request(raw, JobKind.EMBED).units(1)


def provider_turn(sim: Sim) -> None:
    """Settle what the chain allows, publish what is owed (`offchain.serving.step`)."""
    state, number = sim.state, sim.number
    for desk in sim.desks.values():
        for session_id in sessions.served_by(state, desk.key.public):
            found = sessions.session(state, session_id)
            log = desk.logs.get(session_id)
            if found is None or log is None or len(log.records) <= found.seq or number >= found.ends_at:
                continue
            upcoming = number + 1
            last_call = upcoming >= found.window_start and found.settled_at < found.window_start
            count = len(log.records)
            owed = {"seq": count, "units": log.units}
            if found.batches and not last_call and not ServingDesk.worth_settling(found, owed, upcoming):
                continue  # the production desk's own policy: every SETTLE_EVERY blocks, or when much is owed
            sent = desk.settle_sent.get(session_id)
            if sent is not None and sent[0] == count and number - sent[1] < RESEND_AFTER:
                continue
            last = log.records[-1]
            signature = log.key.sign(cheque_payload(sim.chain_id, session_id, count, log.units,
                                                    request_hash(last[1])))  # fmt: skip
            cheque = {"seq": count, "units": log.units, "request_hash": request_hash(last[1]),
                      "signature": signature}  # fmt: skip
            sim.sign(desk.key, "sessions", "settle", {"session": session_id, "log_root": root(log.leaves),
                                                      "count": count, "cheque": cheque})  # fmt: skip
            desk.settle_sent[session_id] = (count, number)
        if desk.strategy == "withholder":
            continue  # it never shows a leaf: a wrong one would convict it
        due: dict[int, list[dict[str, Any]]] = {}
        for audit in session_audits.owed(state, desk.key.public):
            for index, check in zip(audit.leaves, audit.checks, strict=True):
                key = (audit.session, audit.batch, index)
                if check or number < desk.publish_sent.get(key, -RESEND_AFTER) + RESEND_AFTER:
                    continue
                desk.publish_sent[key] = number
                log = desk.logs[audit.session]
                seq, request, result, units = log.records[index]
                due.setdefault(audit.session, []).append({
                    "index": index, "seq": seq, "request": request, "result": result, "units": units,
                    "proof": proof(log.leaves[: audit.count], index)})  # fmt: skip
        for session_id, items in due.items():
            for start in range(0, len(items), MAX_SAMPLED_LEAVES):
                sim.sign(desk.key, "sessions", "publish",
                         {"session": session_id, "items": items[start : start + MAX_SAMPLED_LEAVES]})  # fmt: skip


def heartbeat_turn(sim: Sim) -> None:
    """Each provider's worker heartbeats once an era (it would go offline otherwise)."""
    era = staking.CurrentEra.get(sim.state)
    if era == sim.era:
        return
    sim.era = era
    serving = set(registry.Serving.get(sim.state, MODEL))
    for desk in sim.desks.values():
        if desk.key.public in serving:
            sim.sign(desk.key, "registry", "heartbeat", {})
    known_answer_draw(sim)


# -- users ------------------------------------------------------------------------
def _new_request(sim: Sim) -> bytes:
    return encode_request("embed", [f"request {sim.user_requests} {sim.rng.random()}"], {})


def user_turn(sim: Sim, requests_total: int) -> None:
    state, number = sim.state, sim.number
    serving = set(registry.Serving.get(state, MODEL))
    for user in sim.users:
        if user.session >= 0:
            found = sessions.session(state, user.session)
            done = found is None or user.left <= 0 or sim.user_requests >= requests_total
            if not done and found is not None and found.provider not in serving:
                done = True  # its provider was chilled (a proven cheat): go elsewhere
            if not done and found is not None and _withholding(sim, found.provider):
                done = True  # as the API's broker does: its sampled answers are not shown
            if done:
                if found is not None and found.status == sessions.SessionStatus.OPEN:
                    sim.sign(user.key, "sessions", "close", {"session": user.session})
                user.session = -1
                continue
            assert found is not None
            desk = sim.desks[found.provider]
            for _ in range(sim.rate):
                if user.left <= 0 or sim.user_requests >= requests_total:
                    break
                sim.serve(desk, user.session, user.key, _new_request(sim))
                sim.user_requests += 1
                user.left -= 1
        elif sim.user_requests < requests_total and (
            user.opening < 0 or number - user.opening >= RESEND_AFTER
        ):
            if len(sessions.opened_by(state, user.key.public)) >= MAX_SESSIONS_PER_ACCOUNT:
                continue
            user.left = sim.rng.randint(*SESSION_LENGTH)
            user.opening = number
            sim.sign(user.key, "sessions", "open", {
                "model": MODEL, "provider": _named(sim, serving), "deposit": 2 * user.left * 20 * PRICE, "max_price": PRICE,
                "min_reputation": 0, "expiry": number + 2_000, "session_key": b"",
            })  # fmt: skip


def _withholding(sim: Sim, provider: bytes) -> bool:
    return session_audits.withholding(sim.state, provider, sim.number, PUBLISH_GRACE)


def _named(sim: Sim, serving: set[bytes]) -> bytes:
    """The provider a user's node names (`node.api_sessions.SessionBroker._named`):
    none (the chain draws one) unless one withholds sampled answers: then
    any other, at random (one chosen by all would draw every session)."""
    avoided = {who for who in serving if _withholding(sim, who)}
    if not avoided:
        return b""
    alive = sorted(serving - avoided)
    return sim.rng.choice(alive) if alive else b""


def opened(sim: Sim) -> None:
    """Read the sessions opened in the last block: the users' and the probes'."""
    users = {u.key.public: u for u in sim.users}
    for event in sim.events:
        if event.pallet != "sessions" or event.name != "Opened":
            continue
        who, session_id = event.data["who"], event.data["session"]
        if who in users and users[who].opening >= 0:
            users[who].session, users[who].opening = session_id, -1
        for probe in sim.probes:
            if (
                probe.phase == "opening"
                and probe.account.public == who
                and probe.provider == event.data["provider"]
            ):
                probe.session, probe.phase = session_id, "serving"


# -- validators -------------------------------------------------------------------
def verifier_turn(sim: Sim) -> None:
    for validator in sim.validators:
        for check_id in verification.tasks(sim.state, validator.public):
            if (check_id, validator.public) in sim.answered:
                continue
            sim.answered.add((check_id, validator.public))
            sample = session_checks.sample(sim.state, check_id)
            assert sample is not None, check_id
            sim.verifier_runs += 1
            sim.desks[sample.provider].checked += 1
            verdict = embed.compare(reference(texts_of(sample.request), sim.rng), decode(sample.result))
            sim.sign(validator, "verification", "verdict", {"job": check_id, "match": verdict.match})


def known_answer_draw(sim: Sim) -> None:
    """Once an era: a test session of each provider, by each validator, at the chain's rate."""
    rate = system.params(sim.state).known_answer_rate_ppm
    for validator in sim.validators:
        mine = [p for p in sim.probes if p.validator is validator]
        for provider in sorted(registry.Serving.get(sim.state, MODEL)):
            if len(mine) >= KA_MAX_OPEN:
                break
            if sim.rng.random() * PPM >= rate:
                continue
            busy = {p.account.public for p in mine}
            account = sim.rng.choice([a for a in sim.ka_accounts[validator.public] if a.public not in busy])
            requests = [encode_request("embed", [f"known {sim.rng.random()}" for _ in range(sim.rng.randint(1, 4))], {})
                        for _ in range(sim.rng.randint(*KA_REQUESTS))]  # fmt: skip
            expected = [reference(texts_of(raw), sim.rng) for raw in requests]
            sim.verifier_runs += len(requests)
            sim.known_runs += len(requests)
            sim.desks[provider].checked += len(requests)
            probe = Probe(validator, account, provider, Keypair(sim.rng.randbytes(32)), requests, expected,
                          [_units(raw) for raw in requests], sim.number)  # fmt: skip
            mine.append(probe)
            sim.probes.append(probe)


def known_answer_turn(sim: Sim) -> None:
    state, number = sim.state, sim.number
    serving = set(registry.Serving.get(state, MODEL))
    for probe in list(sim.probes):
        due = probe.sent < 0 or number - probe.sent >= RESEND_AFTER
        if probe.phase == "opening":
            if probe.provider not in serving or number - probe.started > 60:
                sim.probes.remove(probe)  # the provider stopped serving (chilled): no test
            elif due:
                probe.sent = number
                sim.sign(probe.account, "sessions", "open", {
                    "model": MODEL, "provider": probe.provider, "deposit": max(2 * sum(probe.units) * PRICE, PRICE),
                    "max_price": PRICE, "min_reputation": 0, "expiry": number + KA_SESSION_BLOCKS,
                    "session_key": probe.key.public,
                })  # fmt: skip
        elif probe.phase == "serving":
            desk = sim.desks[probe.provider]
            for index, raw in enumerate(probe.requests):
                result = sim.serve(desk, probe.session, probe.key, raw)
                if not embed.compare(probe.expected[index], decode(result)).match:
                    probe.wrong.append(index + 1)
            probe.phase, probe.served_until, probe.sent = "watching", number, -1
            sim.counts["known_answer.sessions"] += 1
            sim.counts["known_answer.wrong_sessions"] += bool(probe.wrong)
        else:
            found = sessions.session(state, probe.session)
            if found is None:
                sim.probes.remove(probe)
                continue
            settled = [seq for seq in probe.wrong if seq <= found.count]
            pending = [seq for seq in settled if not _challenged(state, probe.session, seq)
                       and number - probe.challenged.get(seq, -RESEND_AFTER) >= RESEND_AFTER]  # fmt: skip
            for seq in pending:
                probe.challenged[seq] = number
                sim.sign(probe.account, "sessions", "challenge", {"session": probe.session, "seq": seq})
            waited = number - probe.served_until > KA_WAIT_FOR_SETTLE
            if (found.status == sessions.SessionStatus.OPEN and due and not pending
                    and (len(settled) == len(probe.wrong) or waited)):  # fmt: skip
                probe.sent = number
                sim.sign(probe.account, "sessions", "close", {"session": probe.session})


def _challenged(state: State, session_id: int, seq: int) -> bool:
    for kept in sessions.batches(state, session_id):
        if kept.first <= seq - 1 < kept.count:
            return seq - 1 in Challenged.get(state, batch_key(session_id, kept.index))
    return True


# -- the run ----------------------------------------------------------------------
def setup(seed: int, per_strategy: int, honest: int, users: int, rate: int, era_length: int) -> Sim:
    rng = random.Random(seed)
    validators = [Keypair(rng.randbytes(32)) for _ in range(4)]
    desks: dict[bytes, Desk] = {}
    for strategy in STRATEGIES:
        for _ in range(honest if strategy == "honest" else per_strategy):
            key = Keypair(rng.randbytes(32))
            desks[key.public] = Desk(key, strategy)
    user_keys = [Keypair(rng.randbytes(32)) for _ in range(users)]
    ka = {v.public: [Keypair(rng.randbytes(32)) for _ in range(KA_ACCOUNTS)] for v in validators}
    everyone = [
        *validators,
        *user_keys,
        *(d.key for d in desks.values()),
        *(k for a in ka.values() for k in a),
    ]
    spec = build_spec(
        "Cheat simulation (sessions)", "sim", [v.public for v in validators], [k.public for k in everyone],
        validators[0].public, slot_seconds=6, endowment=100_000 * UNIT, bond=10_000 * UNIT,
        min_validator_bond=1_000 * UNIT, min_provider_bond=100 * UNIT, era_length=era_length,
        job_commit_window=2, job_reveal_window=2, job_challenge_window=3, verify_window=3,
    )  # fmt: skip
    spec = replace(spec, models=((MODEL, "sim-embed", "embed", 1_000_000, 1),))
    state = State.in_memory()
    build_genesis(state, spec.genesis_config())
    sim = Sim(rng, spec.chain_id, state, desks, validators, [User(k) for k in user_keys], ka, rate)
    for desk in desks.values():
        sim.sign(desk.key, "staking", "bond", {"amount": 1_000 * UNIT})
    sim.block()
    for desk in desks.values():
        sim.sign(
            desk.key, "registry", "register_provider", {"models": [MODEL], "memory_mb": 16, "price": PRICE}
        )
    sim.block()
    unserved = [p for p in desks if MODEL not in registry.provider(state, p).models]
    if unserved:
        raise ValueError(f"{len(unserved)} of {len(desks)} simulated providers could not register")
    sim.era = staking.CurrentEra.get(state)
    return sim


def run(
    requests_total: int = 100_000,
    per_strategy: int = 10,
    honest: int | None = None,
    users: int | None = None,
    rate: int = 1,
    era_length: int = 600,
    seed: int = 7,
) -> dict[str, Any]:
    """Simulate `requests_total` user requests through sessions (plus the
    validators' known-answer requests) and report per strategy."""
    start = time.perf_counter()
    honest_count = per_strategy if honest is None else honest
    providers = honest_count + per_strategy * (len(STRATEGIES) - 1)
    sim = setup(seed, per_strategy, honest_count, providers if users is None else users, rate, era_length)
    before = {p: balances.get(sim.state, p).total for p in sim.desks}
    drained = 0
    while drained < DRAIN_BLOCKS:
        opened(sim)
        heartbeat_turn(sim)
        user_turn(sim, requests_total)
        known_answer_turn(sim)
        provider_turn(sim)
        verifier_turn(sim)
        sim.block()
        if sim.user_requests >= requests_total:
            drained += 1
            if drained > 2 * SESSION_SETTLE_INTERVAL and not _open_audits(sim) and not sim.probes:
                break
    return _report(sim, before, requests_total, time.perf_counter() - start)


def _open_audits(sim: Sim) -> bool:
    return any(session_audits.owed(sim.state, p) for p in sim.desks) or any(
        verification.tasks(sim.state, v.public) for v in sim.validators
    )


def _report(sim: Sim, before: dict[bytes, int], requests_total: int, seconds: float) -> dict[str, Any]:
    strategies: dict[str, Any] = {}
    for name in STRATEGIES:
        group = [d for d in sim.desks.values() if d.strategy == name]
        slashed = [d.first_slash for d in group if d.first_slash is not None]
        change = sum(balances.get(sim.state, d.key.public).total - before[d.key.public] for d in group)
        served = [d for d in group if d.served]  # the chain never picked the others: nothing to catch
        strategies[name] = {
            "providers": len(group),
            "providers_serving": len(served),
            "slashed_share": len(slashed) / len(served) if served else 0.0,
            "requests_to_slash_median": statistics.median(slashed) if slashed else None,
            "requests_to_slash_p99": _p99(slashed),
            "requests_served": sum(d.served for d in group),
            "first_offence": ",".join(
                f"{k}:{v}" for k, v in sorted(Counter(d.offence for d in group if d.offence).items())
            )
            or "-",  # fmt: skip
            "slashes": sum(d.slashes for d in group),
            "overhead": sum(d.checked for d in group) / max(sum(d.served for d in group), 1),
            "balance_change_vc": round(change / UNIT / max(len(group), 1), 3),
        }
    always = [d for d in sim.desks.values() if d.strategy in ALWAYS and d.served]
    always_slashed = [d.first_slash for d in always if d.first_slash is not None]
    honest = [d for d in sim.desks.values() if d.strategy == "honest"]
    honest_slashed = sum(1 for d in honest if d.first_slash is not None)
    overhead = sim.verifier_runs / max(sim.provider_runs, 1)
    share = len(always_slashed) / max(len(always), 1)
    p99 = _p99(always_slashed)
    # the issue's own list (a lazy server, a copycat): the withholder is never
    # convicted, only slashed when its publication window closes
    issue_p99 = _p99(
        [d.first_slash for d in always if d.strategy != "withholder" and d.first_slash is not None]
    )
    targets = {
        "always_cheaters_slashed": {"limit": ">= 0.99", "value": share, "met": share >= 0.99},
        "always_cheaters_requests_p99": {
            "limit": "<= 30",
            "value": p99,
            "met": p99 is not None and p99 <= 30,
        },
        "lazy_copycat_requests_p99": {
            "limit": "<= 30",
            "value": issue_p99,
            "met": issue_p99 is not None and issue_p99 <= 30,
        },
        "honest_slashed": {
            "limit": "0 in 100,000 requests",
            "value": honest_slashed,
            "met": honest_slashed == 0 and sum(d.served for d in honest) >= 100_000,
        },
        "verification_overhead": {"limit": "<= 0.16", "value": overhead, "met": overhead <= 0.16},
    }
    return {
        "name": "cheat-sessions", "strategies": strategies, "targets": targets,
        "honest_slashed": honest_slashed, "honest_requests": sum(d.served for d in honest),
        "requests": sim.user_requests, "known_answer_requests": sim.known_runs,
        "known_answer_sessions": sim.counts["known_answer.sessions"],
        "known_answer_sessions_caught": sim.counts["known_answer.wrong_sessions"],
        "sessions_opened": sim.counts["sessions.open"], "settles": sim.counts["sessions.settle"],
        "batches_sampled": sim.counts["event.BatchSampled"], "samples_published": sim.counts["event.SamplePublished"],
        "publications_missed": sim.counts["event.PublicationMissed"], "challenges": sim.counts["event.Challenged"],
        "batches_rejected": sim.counts["event.BatchRejected"], "verdicts": sim.counts["verification.verdict"],
        "overhead": overhead, "verifier_runs": sim.verifier_runs, "provider_runs": sim.provider_runs,
        "requests_per_session_block": sim.rate, "users": len(sim.users), "blocks": sim.number,
        "failed_extrinsics": sum(sim.failures.values()), "failures": dict(sim.failures), "seconds": seconds,
    }  # fmt: skip
