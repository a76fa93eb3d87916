"""`vcoin bench cheat`: an adversarial simulation over the real runtime.

Blocks are built by the real executive with the real pallets (jobs,
registry, verification, reputation, slashing, staking, emission); every
action is a signed extrinsic. Only the executors are simulated: a job's true
output is a pseudo-random embedding derived from its input; each provider
answers by its strategy, and the four validators re-execute checked jobs and
judge with the real `embed.compare` rule:

- honest: the true output plus hardware-like noise (1e-5 per component);
- lazy: a random vector; copycat: the result another provider revealed for
  an earlier job (commit-reveal leaves nothing better to copy);
- model_swap: a smaller model's output, 0.9 true + 0.1 noise (cosine ~0.99);
- intermittent_p: honest, but lazy with probability p per job;
- no_show: takes jobs and never commits.

5% of the jobs are known-answer jobs: a validator submits them through an
ordinary submitter account, seals the expected answer before the job and
opens it after (the `known_answers` pallet). Verification compute is the
validators' executions (checks, dispute rounds, known answers) over the
providers' executions.
"""

import hashlib
import random
import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Any

from agent.canonical import decode, digest, encode, to_fixed
from agent.kinds import embed
from genesis.spec import build_spec
from runtime.codec import blake2b_256
from runtime.codec import encode as chain_encode
from runtime.constants import MAX_PROVIDERS_PER_MODEL, UNIT
from runtime.crypto import Keypair
from runtime.executive import build_block
from runtime.genesis_state import build_genesis
from runtime.pallets import balances, jobs, known_answers, registry, verification
from runtime.pallets.job_rules import check_options
from runtime.state import State
from runtime.types import Call, Extrinsic

MODEL = hashlib.blake2b(b"vcoin-sim-model", digest_size=32).digest()
STRATEGIES = {
    "honest": 0.0, "lazy": 1.0, "copycat": 1.0, "model_swap": 1.0,
    "intermittent_0.05": 0.05, "intermittent_0.2": 0.2, "intermittent_0.5": 0.5, "no_show": 1.0,
}  # fmt: skip
DIM = 16
CLOSED = (jobs.JobStatus.SETTLED, jobs.JobStatus.REFUNDED, jobs.JobStatus.REJECTED)


@dataclass
class Provider:
    key: Keypair
    strategy: str
    executed: int = 0
    first_slash: int | None = None
    paid: int = 0


@dataclass
class Sim:
    rng: random.Random
    keys: dict[bytes, Keypair]
    chain_id: bytes
    state: State
    providers: dict[bytes, Provider]
    validators: list[Keypair]
    submitters: list[Keypair]
    parent: bytes = b"\x00" * 32
    number: int = 0
    nonces: dict[bytes, int] = field(default_factory=dict)
    pending: list[bytes] = field(default_factory=list)
    reveals: list[tuple[Keypair, Call]] = field(default_factory=list)
    revealed: list[bytes] = field(default_factory=list)  # results seen on chain (for copycats)
    provider_runs: int = 0
    verifier_runs: int = 0
    events: list[Any] = field(default_factory=list)
    known: dict[int, tuple[Keypair, bytes, bytes, dict[str, Any]]] = field(default_factory=dict)

    def sign(self, key: Keypair, pallet: str, name: str, args: dict[str, Any]) -> None:
        nonce = self.nonces.get(key.public, 0)
        self.nonces[key.public] = nonce + 1
        self.pending.append(Extrinsic.sign(key, self.chain_id, nonce, Call(pallet, name, args)).encode())

    def block(self) -> None:
        self.number += 1
        built = build_block(self.state, self.parent, self.number, self.validators[0].public, self.pending)
        assert not built.rejected, built.rejected[:1]
        self.pending, self.parent, self.events = [], built.block.hash, list(built.events)


def true_vector(job_input: bytes, tag: bytes = b"") -> list[float]:
    seed = int.from_bytes(hashlib.blake2b(tag + job_input, digest_size=8).digest(), "big")
    rng = random.Random(seed)
    return [rng.gauss(0, 1) for _ in range(DIM)]


def result_of(vector: list[float]) -> bytes:
    return encode({"vectors": [to_fixed(vector)]})


def answer(sim: Sim, prov: Provider, job: jobs.Job) -> bytes | None:
    honest = [x + sim.rng.gauss(0, 1e-5) for x in true_vector(job.input)]
    cheat_p = STRATEGIES[prov.strategy]
    if prov.strategy == "no_show":
        return None
    if prov.strategy == "honest" or sim.rng.random() >= cheat_p:
        return result_of(honest)
    if prov.strategy == "copycat" and sim.revealed:
        return sim.rng.choice(sim.revealed[-50:])
    if prov.strategy == "model_swap":
        small = true_vector(job.input, b"small")
        return result_of([0.9 * a + 0.1 * b for a, b in zip(honest, small, strict=True)])
    return result_of([sim.rng.gauss(0, 1) for _ in range(DIM)])


def provider_turn(sim: Sim) -> None:
    """Reveal last block's commitments, then commit answers to new assignments."""
    for key, call in sim.reveals:
        sim.sign(key, "jobs", "reveal", dict(call.args))
    sim.reveals = []
    for prov in sim.providers.values():
        for job_id in jobs.assignments(sim.state, prov.key.public):
            job = jobs.job(sim.state, job_id)
            if job is None or job.status != jobs.JobStatus.ASSIGNED or job.assigned_at != sim.number:
                continue
            result = answer(sim, prov, job)
            prov.executed += 1
            if result is None:
                continue
            sim.provider_runs += 1
            salt = sim.rng.randbytes(16)
            sim.sign(
                prov.key,
                "jobs",
                "commit",
                {"job": job_id, "commitment": jobs.commitment(digest(result), salt)},
            )
            sim.reveals.append((prov.key, Call("jobs", "reveal", {
                "job": job_id, "result_hash": digest(result), "salt": salt, "result": result})))  # fmt: skip
            sim.revealed.append(result)


def reference(job_input: bytes, rng: random.Random) -> dict[str, Any]:
    """A validator's own execution: the true output with its own hardware noise."""
    return {"vectors": [to_fixed([x + rng.gauss(0, 1e-5) for x in true_vector(job_input)])]}


def known_answer_turn(sim: Sim) -> None:
    for job_id, (validator, expected_hash, salt, expected) in list(sim.known.items()):
        job = jobs.job(sim.state, job_id)
        if job is None or job.status in CLOSED:
            sim.known.pop(job_id)
        elif job.status == jobs.JobStatus.REVEALED:
            matches = embed.compare(expected, decode(job.result)).match
            sim.sign(validator, "known_answers", "open", {"job": job_id, "expected_hash": expected_hash,
                                                          "salt": salt, "matches": matches})  # fmt: skip
            sim.known.pop(job_id)


def submit_jobs(sim: Sim, count: int, first_id: int, known_rate: float) -> None:
    for offset in range(count):
        text = f"job {first_id + offset} {sim.rng.random()}"
        job_input = chain_encode([text])
        if sim.rng.random() < known_rate:  # a hidden test: sealed before the job, from the validator
            validator = sim.rng.choice(sim.validators)
            expected = reference(job_input, sim.rng)
            expected_hash, salt = digest(encode(expected)), sim.rng.randbytes(16)
            sim.verifier_runs += 1
            sim.known[first_id + offset] = (validator, expected_hash, salt, expected)
            task = known_answers.task_of(
                "embed", MODEL, blake2b_256(job_input), check_options(jobs.JobKind.EMBED, {})
            )
            sim.sign(
                validator, "known_answers", "seal", {"seal": known_answers.seal_of(task, expected_hash, salt)}
            )
        sim.sign(sim.rng.choice(sim.submitters), "jobs", "submit", {
            "kind": "embed", "model": MODEL, "input": job_input, "input_hash": b"",
            "input_size": 0, "options": {}, "max_fee": UNIT, "deadline": 40, "min_reputation": 0,
        })  # fmt: skip


def verifier_turn(sim: Sim, answered: set[tuple[int, bytes]]) -> None:
    for validator in sim.validators:
        for job_id in verification.tasks(sim.state, validator.public):
            if (job_id, validator.public) in answered:
                continue
            answered.add((job_id, validator.public))
            job = jobs.job(sim.state, job_id)
            assert job is not None
            sim.verifier_runs += 1
            verdict = embed.compare(reference(job.input, sim.rng), decode(job.result))
            sim.sign(validator, "verification", "verdict", {"job": job_id, "match": verdict.match})


def setup(seed: int, per_strategy: int, honest: int) -> Sim:
    rng = random.Random(seed)
    validators = [Keypair(rng.randbytes(32)) for _ in range(4)]
    submitters = [Keypair(rng.randbytes(32)) for _ in range(8)]
    providers = {}
    for strategy in STRATEGIES:
        for _ in range(honest if strategy == "honest" else per_strategy):
            key = Keypair(rng.randbytes(32))
            providers[key.public] = Provider(key, strategy)
    everyone = [*validators, *submitters, *(p.key for p in providers.values())]
    spec = build_spec(
        "Cheat simulation", "sim", [v.public for v in validators], [k.public for k in everyone],
        validators[0].public, slot_seconds=6, endowment=100_000 * UNIT, bond=10_000 * UNIT,
        min_validator_bond=1_000 * UNIT, min_provider_bond=100 * UNIT, era_length=10_000,
        job_commit_window=2, job_reveal_window=2, job_challenge_window=3, verify_window=3,
    )  # fmt: skip
    spec = replace(spec, models=((MODEL, "sim-embed", "embed", 1_000_000, 1),))
    state = State.in_memory()
    build_genesis(state, spec.genesis_config())
    sim = Sim(rng, {k.public: k for k in everyone}, spec.chain_id, state, providers, validators, submitters)
    for prov in providers.values():
        sim.sign(prov.key, "staking", "bond", {"amount": 1_000 * UNIT})
    sim.block()
    for prov in providers.values():
        sim.sign(
            prov.key, "registry", "register_provider", {"models": [MODEL], "memory_mb": 16, "price": 1_000}
        )
    sim.block()
    unserved = [p for p in providers if MODEL not in registry.provider(state, p).models]
    if unserved:  # e.g. more providers than one model may have
        raise ValueError(f"{len(unserved)} of {len(providers)} simulated providers could not register "
                         f"(at most {MAX_PROVIDERS_PER_MODEL} serve one model)")  # fmt: skip
    return sim


def run(
    jobs_total: int = 20_000,
    per_strategy: int = 10,
    per_block: int = 60,
    seed: int = 5,
    known_rate: float = 0.05,
    honest: int | None = None,
) -> dict[str, Any]:
    start = time.perf_counter()
    sim = setup(seed, per_strategy, per_strategy if honest is None else honest)
    submitted = 0
    answered: set[tuple[int, bytes]] = set()
    paid_before = {p: balances.get(sim.state, p).free for p in sim.providers}
    while submitted < jobs_total or _open_jobs(sim):
        count = min(per_block, jobs_total - submitted)
        known_answer_turn(sim)
        submit_jobs(sim, count, jobs.NextId.get(sim.state), known_rate)
        submitted += count
        provider_turn(sim)
        verifier_turn(sim, answered)
        sim.block()
        _record_slashes(sim)
        if sim.number > 20 * jobs_total:
            break
    return _report(sim, paid_before, submitted, time.perf_counter() - start)


def _open_jobs(sim: Sim) -> bool:
    last = jobs.NextId.get(sim.state) - 1
    return any((j := jobs.job(sim.state, i)) is not None and j.status not in CLOSED
               for i in range(max(0, last - 200), last + 1))  # fmt: skip


def _record_slashes(sim: Sim) -> None:
    for event in sim.events:
        if event.name == "Slashed" and event.data["who"] in sim.providers:
            prov = sim.providers[event.data["who"]]
            if prov.first_slash is None and event.data["offence"] != "false_verdict":
                prov.first_slash = prov.executed


def _report(sim: Sim, paid_before: dict[bytes, int], submitted: int, seconds: float) -> dict[str, Any]:
    strategies: dict[str, Any] = {}
    for name in STRATEGIES:
        group = [p for p in sim.providers.values() if p.strategy == name]
        slashed = [p.first_slash for p in group if p.first_slash is not None]
        paid = sum(
            max(0, balances.get(sim.state, p.key.public).free - paid_before[p.key.public]) for p in group
        )
        strategies[name] = {
            "providers": len(group),
            "slashed_share": len(slashed) / len(group),
            "jobs_to_slash_median": statistics.median(slashed) if slashed else None,
            "jobs_to_slash_p99": _p99(slashed),
            "jobs_executed": sum(p.executed for p in group),
            "rewards_paid": paid,
        }
    return {
        "name": "cheat", "strategies": strategies,
        "honest_slashed": sum(
            1 for p in sim.providers.values() if p.strategy == "honest" and p.first_slash is not None
        ),
        "jobs": submitted, "overhead": sim.verifier_runs / max(sim.provider_runs, 1),
        "verifier_runs": sim.verifier_runs, "provider_runs": sim.provider_runs, "blocks": sim.number,
        "seconds": seconds,
    }  # fmt: skip


def _p99(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))])
