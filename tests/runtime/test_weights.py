"""Weights: heavier calls pay for the work they cause, and a block holds a
bounded amount of it (the builder leaves the rest for the next block; an
importer refuses a block over the limit)."""

from typing import Any

import pytest

from runtime import executive
from runtime.constants import UNIT
from runtime.errors import InvalidBlock
from runtime.genesis_state import build_genesis
from runtime.state import State
from runtime.types import Call, Event
from runtime.weights import CALL_WEIGHTS, weight_of
from tests.chain import ALICE, BOB, CHARLIE, TestChain
from tests.runtime.pallets.test_jobs import TEXTS, market


def fee_of(events: list[Event]) -> int:
    return int(next(e.data["fee"] for e in events if e.name in ("ExtrinsicSuccess", "ExtrinsicFailed")))


def test_a_call_pays_the_base_fee_once_per_unit_of_its_weight() -> None:
    chain = TestChain()
    params = chain.params
    raw = chain.sign(BOB, "balances", "transfer", to=ALICE.public, amount=UNIT)
    assert fee_of(chain.call(BOB, "balances", "transfer", to=ALICE.public, amount=UNIT)) == (
        params.tx_base_fee + params.tx_byte_fee * len(raw)
    )
    args: dict[str, Any] = {
        "action": "set_param",
        "param": "burn_rate_ppm",
        "value": 180_000,
        "recipient": b"",
        "memo": "",
    }
    raw = chain.sign(BOB, "governance", "propose", **args)
    weight = weight_of(Call("governance", "propose", args))
    assert weight == CALL_WEIGHTS[("governance", "propose")] > 1
    assert fee_of(chain.call(BOB, "governance", "propose", **args)) == (
        params.tx_base_fee * weight + params.tx_byte_fee * len(raw)
    )


def submits(chain: TestChain, count: int) -> list[bytes]:
    args: dict[str, Any] = {"kind": "embed", "model": bytes(32), "input": TEXTS, "input_hash": b"", "input_size": 0, "options": {},
            "max_fee": UNIT, "deadline": 20, "min_reputation": 0}  # fmt: skip
    nonce = chain.nonce(CHARLIE.public)
    return [chain.sign(CHARLIE, "jobs", "submit", nonce=nonce + i, **args) for i in range(count)]


def test_the_builder_leaves_what_does_not_fit_for_the_next_block(monkeypatch: pytest.MonkeyPatch) -> None:
    chain = market(BOB)
    monkeypatch.setattr(executive, "MAX_BLOCK_WEIGHT", 2 * CALL_WEIGHTS[("jobs", "submit")] + 1)
    candidates = submits(chain, 3)
    built = chain.produce(candidates)
    assert list(built.block.extrinsics) == candidates[:2] and not built.rejected
    assert list(chain.produce(candidates[2:]).block.extrinsics) == candidates[2:]


def test_a_block_over_the_weight_limit_is_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    chain = TestChain(replicate=False)
    replica = State.in_memory()
    build_genesis(replica, chain.spec.genesis_config())
    built = chain.produce(submits(chain, 3))
    monkeypatch.setattr(executive, "MAX_BLOCK_WEIGHT", 2 * CALL_WEIGHTS[("jobs", "submit")])
    with pytest.raises(InvalidBlock, match="weight"):
        executive.apply_block(replica, built.block)
