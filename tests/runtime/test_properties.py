"""Runtime invariants over random sequences of extrinsics, valid and invalid,
across era and year boundaries."""

from dataclasses import dataclass, replace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from genesis.spec import BUILTIN_MODELS
from runtime.codec import blake2b_256, encode
from runtime.constants import (
    CAP,
    MAX_SESSIONS_PER_ACCOUNT,
    MAX_SESSIONS_PER_PROVIDER,
    MAX_UNASSIGNED_JOBS,
    REWARD_POOL,
    UNIT,
)
from runtime.crypto import Keypair
from runtime.executive import apply_block, finalize, initialize
from runtime.pallets import balances, emission, governance, job_market, jobs, known_answers, sessions, staking
from runtime.pallets.job_rules import check_options
from runtime.pallets.job_types import JobKind
from runtime.record import from_wire
from runtime.state import State
from runtime.storage import _load
from runtime.types import Block, Call, Extrinsic, cheque_payload, extrinsics_root
from tests.chain import ALICE, BOB, CHARLIE, DAVE, TestChain

KEYS = [ALICE, BOB, CHARLIE, DAVE, Keypair(b"\x11" * 32), Keypair(b"\x22" * 32)]
SHORT: dict[str, Any] = {
    "blocks_per_year": 7,
    "era_length": 3,
    "unbonding_period": 4,
    "voting_period": 3,
    "enactment_delay": 1,
    "job_commit_window": 2,
    "job_reveal_window": 2,
    "job_challenge_window": 2,
}
EMBED = BUILTIN_MODELS[0][0]
RESULT_HASH, SALT = blake2b_256(b"result"), b"salt"
KNOWN_ANSWER_SEAL = known_answers.seal_of(
    known_answers.task_of(
        "embed", EMBED, blake2b_256(encode(["some text"])), check_options(JobKind.EMBED, {})
    ),
    RESULT_HASH,
    SALT,
)

amounts = st.one_of(
    st.integers(0, 10),
    st.integers(0, 2_000 * UNIT),
    st.sampled_from([10**6, UNIT // 100 - 1, UNIT // 100, 2**64 - 1]),
)
who = st.integers(0, len(KEYS) - 1)
proposals = st.one_of(
    st.builds(
        lambda n, v: ("set_param", {"name": n, "value": v}),
        st.sampled_from(["burn_rate_ppm", "max_validators", "era_length", "tx_base_fee"]),
        st.integers(0, 300_000),
    ),
    st.builds(
        lambda s, t, a: ("treasury_spend", {"source": s, "to": KEYS[t].public, "amount": a}),
        st.sampled_from(["reserve", "ecosystem", "x"]),
        who,
        amounts,
    ),
    st.builds(lambda c: ("set_validator_count", {"count": c}), st.integers(0, 5)),
)


SESSION_PROVIDER = -1  # a signer index: the provider of the session the call names


@dataclass(frozen=True)
class LazyCheque:
    """A cheque signed when the block is built, for the chain it goes to: by
    KEYS[signer], or (SESSION_PROVIDER) by whoever holds the session's key."""

    signer: int
    seq: int
    units_per_request: int

    def sign(self, chain: TestChain, session: int) -> dict[str, Any]:
        found = sessions.session(chain.state, session)
        key = KEYS[self.signer] if self.signer >= 0 or found is None else _holder(found.key)
        units = self.seq * self.units_per_request
        request_hash = blake2b_256(self.seq.to_bytes(8, "big"))
        payload = cheque_payload(chain.chain_id, session, self.seq, units, request_hash)
        return {"seq": self.seq, "units": units, "request_hash": request_hash, "signature": key.sign(payload)}


def _holder(public: bytes) -> Keypair:
    return next((key for key in KEYS if key.public == public), KEYS[0])


valid_open = st.fixed_dictionaries({
    "model": st.just(EMBED),
    "provider": st.sampled_from([b"", b"", KEYS[1].public, KEYS[3].public]),
    "deposit": st.sampled_from([10**6, 10**7 + 3, UNIT]),
    "max_price": st.sampled_from([1_000, UNIT, 2**64 - 1]),
    "min_reputation": st.sampled_from([0, 400_000]),
    "expiry": st.sampled_from([30, 60, 120, 250]),
    "session_key": st.sampled_from([b"", KEYS[4].public]),
})  # fmt: skip
wrong_open = st.sampled_from([
    ("model", RESULT_HASH), ("provider", b"\x01" * 5), ("provider", KEYS[0].public), ("deposit", 999),
    ("deposit", 2**64 - 1), ("max_price", 0), ("min_reputation", 600_000), ("min_reputation", 10**7),
    ("expiry", 0), ("expiry", 2**32 - 1), ("session_key", b"\x02"),
])  # fmt: skip
open_args = valid_open | st.builds(lambda args, wrong: {**args, wrong[0]: wrong[1]}, valid_open, wrong_open)
session_calls = st.one_of(
    st.builds(lambda args: ("sessions", "open", args), open_args),
    st.builds(
        lambda s, c, cheque: (
            "sessions",
            "settle",
            {
                "session": s,
                "log_root": RESULT_HASH,
                "count": cheque.seq if c is None else c,
                "cheque": cheque,
            },
        ),  # fmt: skip
        st.integers(0, 3),
        st.sampled_from([None, None, None, 0, 1, 40]),
        st.builds(
            LazyCheque,
            st.sampled_from([SESSION_PROVIDER, SESSION_PROVIDER, SESSION_PROVIDER, 0, 2]),
            st.integers(0, 40),
            st.sampled_from([0, 10, 25, 2**58]),  # 40 x 2**58 still fits in 64 bits
        ),
    ),
    st.builds(
        lambda s, x: ("sessions", "settle", {"session": s, "log_root": RESULT_HASH, "count": 1, "cheque": x}),
        st.integers(0, 3),
        st.sampled_from([{}, {"seq": 1, "units": 1, "request_hash": b"", "signature": b""}, []]),
    ),
    st.builds(lambda s: ("sessions", "close", {"session": s}), st.integers(0, 3)),
)

calls = st.one_of(
    st.builds(lambda t, a: ("balances", "transfer", {"to": KEYS[t].public, "amount": a}), who, amounts),
    st.builds(
        lambda t, a: ("balances", "transfer_keep_alive", {"to": KEYS[t].public, "amount": a}),
        who,
        amounts,
    ),
    st.builds(lambda a: ("staking", "bond", {"amount": a}), amounts),
    st.builds(lambda a: ("staking", "unbond", {"amount": a}), amounts),
    st.just(("staking", "withdraw_unbonded", {})),
    st.just(("staking", "validate", {})),
    st.just(("staking", "chill", {})),
    st.builds(lambda p: ("governance", "propose", {"action": p[0], "args": p[1]}), proposals),
    st.builds(lambda i, a: ("governance", "vote", {"id": i, "aye": a}), st.integers(0, 3), st.booleans()),
    st.builds(
        lambda a, b: (
            "slashing",
            "report_equivocation",
            {"header_a": a, "seal_a": b, "header_b": a, "seal_b": b},
        ),
        st.binary(max_size=80),
        st.binary(max_size=64),
    ),
    st.builds(
        lambda m, p: ("registry", "register_provider", {"models": [EMBED], "memory_mb": m, "price": p}),
        st.sampled_from([0, 4096]),
        st.sampled_from([0, 1, 1_000, UNIT]),
    ),
    st.just(("registry", "heartbeat", {})),
    st.just(("registry", "deregister_provider", {})),
    st.builds(
        lambda i, f, d: (
            "jobs",
            "submit",
            {
                "kind": "embed",
                "model": EMBED,
                "input": i,
                "input_hash": b"",
                "input_size": 0,
                "options": {},
                "max_fee": f,
                "deadline": d,
                "min_reputation": 0,
            },
        ),  # fmt: skip
        st.sampled_from([encode(["some text"]), encode("x"), b"\xc1", b""]),
        st.sampled_from([0, 10**6, UNIT, 2**64 - 1]),
        st.integers(0, 6),
    ),
    st.builds(
        lambda j, ok: (
            "jobs",
            "commit",
            {"job": j, "commitment": jobs.commitment(RESULT_HASH, SALT) if ok else SALT * 8},
        ),
        st.integers(0, 3),
        st.booleans(),
    ),
    st.builds(
        lambda j, m: ("verification", "verdict", {"job": j, "match": m}), st.integers(0, 3), st.booleans()
    ),
    st.builds(
        lambda j: ("jobs", "reveal", {"job": j, "result_hash": RESULT_HASH, "salt": SALT, "result": b""}),
        st.integers(0, 3),
    ),
    st.builds(
        lambda size, f: (
            "jobs",
            "submit",
            {
                "kind": "embed",
                "model": EMBED,
                "input": b"",
                "input_hash": RESULT_HASH,
                "input_size": size,
                "options": {},
                "max_fee": f,
                "deadline": 6,
                "min_reputation": 0,
            },
        ),  # fmt: skip
        st.sampled_from([0, 100, 40_000]),
        st.sampled_from([10**6, UNIT]),
    ),
    st.builds(lambda j: ("jobs", "refuse", {"job": j, "reason": "unusable input"}), st.integers(0, 3)),
    st.builds(lambda j: ("jobs", "start", {"job": j}), st.integers(0, 3)),
    st.builds(lambda j: ("jobs", "decline", {"job": j, "reason": "too slow"}), st.integers(0, 3)),
    st.builds(
        lambda ok: ("known_answers", "seal", {"seal": KNOWN_ANSWER_SEAL if ok else SALT}), st.booleans()
    ),
    st.builds(
        lambda j, e, m: ("known_answers", "open", {"job": j, "expected_hash": e, "salt": SALT, "matches": m}),
        st.integers(0, 3),
        st.sampled_from([RESULT_HASH, SALT]),
        st.booleans(),
    ),
    session_calls,
    st.builds(
        lambda p, n, a: (p, n, a),
        st.text(max_size=10),
        st.text(max_size=10),
        st.dictionaries(st.text(max_size=5), st.integers() | st.binary(max_size=8), max_size=3),
    ),
)

# (kind, signer, call, tip); kinds other than "ok" must never change state
txs = st.tuples(
    st.sampled_from(["ok", "ok", "ok", "ok", "bad_sig", "stale", "junk"]),
    who,
    calls,
    st.integers(0, 1_000),
)
blocks = st.lists(st.lists(txs, max_size=6), min_size=1, max_size=12)


def _raw(
    chain: TestChain,
    nonces: dict[bytes, int],
    kind: str,
    signer: int,
    call: tuple[str, str, dict[str, Any]],
    tip: int,
    junk: bytes,
) -> bytes:
    if kind == "junk":
        return junk
    pallet, name, args = call
    if pallet == "sessions" and type(args.get("session")) is int:
        found = sessions.session(chain.state, args["session"])
        if signer == SESSION_PROVIDER:
            signer = KEYS.index(_holder(found.provider)) if found is not None else 1
        if isinstance(args.get("cheque"), LazyCheque):
            call = (pallet, name, {**args, "cheque": args["cheque"].sign(chain, args["session"])})
    key = KEYS[1 if signer == SESSION_PROVIDER else signer]
    nonce = nonces.setdefault(key.public, chain.nonce(key.public))
    if kind == "ok":
        nonces[key.public] += 1
    if kind == "stale":  # relative to the state before the block: stale (or far future) there too
        nonce = chain.nonce(key.public) - 1 if chain.nonce(key.public) else 2**40
    try:
        xt = Extrinsic.sign(key, chain.chain_id, nonce, Call(*call), tip)
    except Exception:  # calls with un-encodable args can't be signed at all
        return junk
    if kind == "bad_sig":
        xt = replace(xt, signature=bytes(reversed(xt.signature)))
    return xt.encode()


def check_invariants(state: State) -> None:
    total = 0
    bonded = 0
    reserved_by: dict[bytes, int] = {}
    held_by: dict[bytes, int] = {}  # bonded + unbonding + fees of open jobs
    pending: set[int] = set()
    opened: dict[bytes, int] = {}  # sessions by payer, and by provider
    served: dict[bytes, int] = {}
    for key, value in state.items():
        if key.startswith(balances.Accounts.prefix):
            acc = from_wire(balances.Account, _load(value))
            assert min(acc.free, acc.reserved, acc.locked) >= 0
            total += acc.total
            reserved_by[key[len(balances.Accounts.prefix) :]] = acc.reserved
        elif key.startswith(staking.Ledgers.prefix):
            led = from_wire(staking.Ledger, _load(value))
            owner = key[len(staking.Ledgers.prefix) :]
            bonded += led.bonded
            held_by[owner] = held_by.get(owner, 0) + led.bonded + led.unbonding_total
        elif key.startswith(sessions.Sessions.prefix):
            found = from_wire(sessions.Session, _load(value))
            assert found.paid == found.units * found.price <= found.deposit  # never above the deposit
            held_by[found.user] = held_by.get(found.user, 0) + found.deposit - found.paid
            opened[found.user] = opened.get(found.user, 0) + 1
            served[found.provider] = served.get(found.provider, 0) + 1
        elif key.startswith(jobs.Jobs.prefix):
            job = from_wire(jobs.Job, _load(value))
            if job.status not in (jobs.JobStatus.SETTLED, jobs.JobStatus.REFUNDED):
                held_by[job.submitter] = held_by.get(job.submitter, 0) + job.max_fee
            if job.status == jobs.JobStatus.PENDING:
                pending.add(job.id)
    for owner, held in held_by.items():
        assert reserved_by.get(owner, 0) >= held
    for who, count in opened.items():
        assert len(sessions.opened_by(state, who)) == count <= MAX_SESSIONS_PER_ACCOUNT
    for who, count in served.items():
        assert len(sessions.served_by(state, who)) == count <= MAX_SESSIONS_PER_PROVIDER
    minted, burned = balances.Minted.get(state), balances.Burned.get(state)
    assert total + burned == minted
    assert minted <= CAP
    assert emission.Pool.get(state) + emission.Paid.get(state) == REWARD_POOL
    assert minted == CAP - REWARD_POOL + emission.Paid.get(state)
    assert staking.TotalBonded.get(state) == bonded
    assert len(governance.Open.get(state)) <= 64
    # the waiting set is exactly the pending jobs, and bounded
    waiting = job_market.waiting(state)
    assert len(waiting) == len(pending) <= MAX_UNASSIGNED_JOBS and set(waiting) == pending


@given(blocks, st.binary(max_size=64))
def test_random_extrinsics_keep_every_invariant(
    plan: list[list[tuple[str, int, Any, int]]], junk: bytes
) -> None:
    chain = TestChain(**SHORT)  # the replica re-imports each block: same blocks, same roots
    check_invariants(chain.state)
    for txs_in_block in plan:
        nonces: dict[bytes, int] = {}
        raws = [
            _raw(chain, nonces, kind, signer, call, tip, junk) for kind, signer, call, tip in txs_in_block
        ]
        bad = [r for (kind, *_), r in zip(txs_in_block, raws, strict=True) if kind != "ok"]
        if bad:
            _assert_no_effect(chain, bad)
        built = chain.produce(raws)
        assert not built.bugs, built.bugs  # no call makes the runtime raise
        check_invariants(chain.state)


session_txs = st.tuples(
    st.sampled_from(["ok", "ok", "ok", "ok", "bad_sig", "stale"]),
    st.sampled_from([SESSION_PROVIDER, SESSION_PROVIDER, 0, 1, 2, 2, 3, 4]),
    st.one_of(
        st.builds(lambda args: ("sessions", "open", args), open_args),
        session_calls,
        st.just(("registry", "heartbeat", {})),
    ),  # fmt: skip
    st.integers(0, 10),
)


@given(
    st.lists(
        st.tuples(st.lists(session_txs, min_size=1, max_size=6), st.sampled_from([0, 0, 1, 4, 12, 21])),
        min_size=2,
        max_size=12,
    ),
    st.binary(max_size=8),
)
def test_random_session_calls_keep_every_invariant(plan: list[tuple[list[Any], int]], junk: bytes) -> None:
    """Sessions opened, settled, closed and ended (the gaps of empty blocks
    reach the settle windows' ends) with two providers serving the model."""
    chain = TestChain()
    for provider in (KEYS[1], KEYS[3]):
        chain.call(provider, "staking", "bond", amount=1_000 * UNIT)
        chain.call(provider, "registry", "register_provider", models=[EMBED], memory_mb=4096, price=1_000)
    check_invariants(chain.state)
    for txs_in_block, gap in plan:
        nonces: dict[bytes, int] = {}
        raws = [
            _raw(chain, nonces, kind, signer, call, tip, junk) for kind, signer, call, tip in txs_in_block
        ]
        built = chain.produce(raws)
        assert not built.bugs, built.bugs
        check_invariants(chain.state)
        for _ in range(gap):
            chain.produce()
        check_invariants(chain.state)


def _assert_no_effect(chain: TestChain, bad: list[bytes]) -> None:
    """A block of only bad extrinsics ends in the same state as an empty one."""
    head = chain.head
    roots = []
    for body in ((), tuple(bad)):
        state = chain.state.at(chain.state.root)
        header = replace(
            head,
            number=head.number + 1,
            parent_hash=head.hash,
            extrinsics_root=extrinsics_root(body),
        )
        roots.append(apply_block(state, Block(header, body)).state_root)
    assert roots[0] == roots[1]


@given(st.lists(st.dictionaries(who, st.integers(1, 10**12), max_size=4), min_size=1, max_size=40))
def test_emission_across_years_never_passes_the_pool_or_the_cap(
    work_per_block: list[dict[int, int]],
) -> None:
    chain = TestChain(replicate=False, blocks_per_year=3)
    state = chain.state
    for number, work in enumerate(work_per_block, start=1):
        ctx = initialize(state, number, number, ALICE.public, b"\x00" * 32)
        for index, units in work.items():
            emission.report_work(ctx, KEYS[index].public, units)
        finalize(ctx)
        check_invariants(state)
        year = (number - 1) // 3
        assert emission.Paid.get(state) <= sum(emission.annual_emission(y) for y in range(year + 1))


@given(st.binary(max_size=300))
def test_random_bytes_as_a_block_body_never_crash_apply_block(data: bytes) -> None:
    chain = TestChain(replicate=False)
    body = (data, data[: len(data) // 2])
    header = replace(
        chain.genesis,
        number=1,
        parent_hash=chain.genesis.hash,
        extrinsics_root=extrinsics_root(body),
    )
    result = apply_block(chain.state, Block(header, body))
    assert len([e for e in result.events if e.name == "ExtrinsicInvalid"]) == 2
    check_invariants(chain.state)
