"""The history index (node.history): its series after imported blocks, its
bound however long the chain, a restart, and blocks a reorg replaced."""

import json
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest

from consensus.slots import slot_at
from node import history, history_point
from node.service import Node
from runtime.constants import UNIT
from runtime.crypto import dev_keypair
from runtime.types import Call, Extrinsic
from tests.nodeproc import in_process_dev_node

ALICE, BOB = dev_keypair("alice"), dev_keypair("bob")


def author(node: Node, blocks: int, transfers: int = 0) -> None:
    """`blocks` blocks on the next slots; the first carries `transfers` transfers from //bob."""
    slot = max(node.chain.best.slot + 1, slot_at(time.time(), node.chain.spec.params.slot_seconds))
    nonce = node.pool.next_nonce(node.chain.state, BOB.public)
    for i in range(transfers):
        call = Call("balances", "transfer", {"to": ALICE.public, "amount": UNIT})
        node.submit_extrinsic(Extrinsic.sign(BOB, node.chain.spec.chain_id, nonce + i, call).encode())
    for i in range(blocks):
        assert node.author_slot(slot + i) is not None


def rpc(node: Node, method: str, *params: Any) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    answer = json.loads(node.rpc.handle(body) or b"")
    assert "error" not in answer, answer
    return answer["result"]


def test_the_series_follows_imported_blocks(tmp_path: Path) -> None:
    with in_process_dev_node(tmp_path) as node:
        author(node, 3, transfers=2)
        assert node.history.follow(node.chain) == 4  # genesis and three blocks
        series = rpc(node, "vcoin_history", {})
        points = series["points"]
        assert [p["number"] for p in points] == [0, 1, 2, 3] and series["indexedTo"] == 3
        assert points[-1]["transfers"] == 2 and points[-1]["extrinsics"] == 2
        assert points[-1]["fees"] > 0 and points[0]["fees"] == 0
        supply = rpc(node, "vcoin_supply")
        assert (points[-1]["minted"], points[-1]["burned"]) == (supply["minted"], supply["burned"])
        assert points[-1]["hash"] == rpc(node, "chain_getBlockHash", 3)
        assert [
            p["number"] for p in rpc(node, "vcoin_history", {"from": 1, "to": 3, "points": 2})["points"]
        ] == [1, 3]
        alice = rpc(node, "vcoin_providerHistory", ALICE.address)
        assert alice["latest"]["authored"] == 3 and [p["authored"] for p in alice["points"]] == [1, 2, 3]
        reputation = rpc(node, "vcoin_provider", ALICE.address)["reputation"]
        assert [p["reputation"] for p in alice["points"]] == [reputation] * 3  # its score after each block
        assert node.history.follow(node.chain) == 0  # nothing new: nothing done


def test_bad_options_are_refused_as_invalid_params(tmp_path: Path) -> None:
    with in_process_dev_node(tmp_path) as node:
        for bad in ({"points": 1}, {"from": -1}, {"colour": 1}, [1]):
            answer = json.loads(node.rpc.handle(json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "vcoin_history", "params": [bad]}).encode()) or b"")  # fmt: skip
            assert answer["error"]["code"] == -32602


def test_the_index_stays_bounded_and_its_totals_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "RECENT", 8)
    monkeypatch.setattr(history, "MAX_SAMPLED", 4)
    monkeypatch.setattr(history, "MAX_ACCOUNT_POINTS", 10)
    with in_process_dev_node(tmp_path) as node:
        author(node, 60, transfers=3)
        while node.history.behind(node.chain):
            node.history.follow(node.chain, budget=7)  # in steps, as the node does between imports
        kept = node.history.numbers(0, 60)
        assert len(kept) <= 8 + 4 + 1 and kept[-8:] == list(range(53, 61))
        stride = node.history.stride
        assert stride > 1 and all(n % stride == 0 for n in kept[:-8])
        assert all(
            p["transfers"] == 3 for p in (node.history.point(n) for n in kept) if p and p["number"] >= 1
        )
        authored = node.history.account(ALICE.public)
        assert len(authored) <= 10 and authored[-1]["authored"] == 60
        assert all(p["authored"] == p["number"] for p in authored)  # thinned, every kept point exact


def test_a_restart_keeps_the_index(tmp_path: Path) -> None:
    with in_process_dev_node(tmp_path) as node:
        author(node, 4)
        node.history.follow(node.chain)
        before = rpc(node, "vcoin_history", {})
    with in_process_dev_node(tmp_path) as node:
        assert node.history.tip == 4 and not node.history.behind(node.chain)
        assert rpc(node, "vcoin_history", {}) == before
        author(node, 2)
        assert node.history.follow(node.chain) == 2
        assert rpc(node, "vcoin_providerHistory", ALICE.address)["latest"]["authored"] == 6


def test_points_of_blocks_a_reorg_replaced_are_indexed_again(tmp_path: Path) -> None:
    with in_process_dev_node(tmp_path) as node:
        author(node, 6)
        node.history.follow(node.chain)
        db = node.history.db
        for number in (4, 5, 6):  # as if blocks 4 to 6 had been on a fork the chain left
            key = b"p" + number.to_bytes(8, "big")
            point = msgpack.unpackb(db.get(key))
            db.put(key, msgpack.packb({**point, "hash": bytes(32), "transfers": 99}))
        assert node.history.behind(node.chain)
        assert node.history.follow(node.chain) == 3
        assert all(node.history.point(n)["transfers"] == 0 for n in (4, 5, 6))  # type: ignore[index]
        assert node.history.point(6)["hash"] == node.chain.best.hash  # type: ignore[index]
        assert (
            rpc(node, "vcoin_providerHistory", ALICE.address)["latest"]["authored"] == 6
        )  # not counted twice


def test_market_events_count_into_the_chain_and_account_totals(tmp_path: Path) -> None:
    provider = dev_keypair("dave").public
    events: list[list[Any]] = [
        ["system", "ExtrinsicFailed", {"error": "jobs.X", "detail": "", "fee": 5}, 0],
        ["jobs", "Settled", {"job": 1, "provider": provider, "fee": 1_000}, None],
        ["emission", "Rewarded", {"who": provider, "amount": 50, "units": 3}, None],
        ["verification", "CheckClosed", {"job": 1, "status": "passed"}, None],
        ["known_answers", "Opened", {"job": 2, "provider": provider, "passed": False}, 1],
        [
            "slashing",
            "Slashed",
            {"who": provider, "offence": "mismatch", "ppm": 1, "amount": 77, "repeat": 1},
            None,
        ],
        [
            "sessions",
            "Settled",
            {"session": 9, "provider": provider, "batch": 0, "seq": 5, "units": 10, "fee": 100},
            2,
        ],
    ]
    with in_process_dev_node(tmp_path) as node:
        header, state = node.chain.best, node.chain.state
        first = history_point.chain_point(header, state, events, None)
        second = history_point.chain_point(header, state, events, first)
        assert (first["extrinsics"], first["extrinsicsFailed"], first["fees"]) == (1, 1, 5)
        assert (first["jobsSettled"], first["jobFees"], first["rewards"], first["checksPassed"]) == (
            1,
            1_000,
            50,
            1,
        )
        assert (first["knownAnswersFailed"], first["slashes"], first["slashed"]) == (1, 1, 77)
        assert (first["sessionFees"], first["sessionUnits"], first["requestsServed"]) == (
            100,
            10,
            0,
        )  # no such batch
        assert (
            second["jobFees"] == 2_000 and second["minted"] == first["minted"]
        )  # totals add up, figures do not
        changes = history_point.account_changes(header, state, events)
        kept = 1_000 * 80 // 100  # less the 15% burn and the 5% verifiers' share
        assert changes[provider] == {"jobFees": kept, "jobsSettled": 1, "rewards": 50, "units": 3, "slashes": 1,
                                     "slashed": 77, "sessionFees": 80}  # fmt: skip
        assert changes[header.author] == {"authored": 1}
