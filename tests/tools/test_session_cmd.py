"""`vcoin session` against a real dev node (1 s slots): //alice registered as
a worker-less provider of the packaged MiniLM, //bob opens a session with the
CLI, //alice settles a cheque signed with the SDK's helper, the 80/5/15 split
adds up to the base unit, and the close refunds the rest after the last
settle window. A second session is opened, settled and closed with the SDK,
its cheques signed by a delegated session key."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.constants import SESSION_CLOSE_WINDOW, UNIT, ppm_of
from runtime.crypto import Keypair, dev_keypair, to_address
from tests.nodeproc import NodeProcess, fast_dev_spec, wait_until
from tools.cheque import ChequeBook, request_hash
from tools.client import VcoinClient
from tools.sdk import Market

pytestmark = pytest.mark.slow
ALICE, BOB = dev_keypair("//alice"), dev_keypair("//bob")
MODEL = "all-minilm-l6-v2"
PRICE = UNIT // 1_000  # 0.001 VC per work unit


def settle(client: VcoinClient, session: int, cheque: dict[str, Any], count: int) -> dict[str, Any]:
    args = {"session": session, "log_root": b"\x5a" * 32, "count": count, "cheque": cheque}
    status = client.wait(client.submit_call(ALICE, "sessions", "settle", args), timeout=60)
    assert status["success"], status
    return status


def rejected_batches(node: NodeProcess, since: int) -> int:
    """What sessions.BatchRejected paid back to users in blocks since `since`."""
    total = 0
    for number in range(since, node.best() + 1):
        for event in node.rpc("chain_getEvents", node.rpc("chain_getBlockHash", number)):
            if event["pallet"] == "sessions" and event["name"] == "BatchRejected":
                total += int(event["data"]["refunded"])
    return total


@pytest.fixture
def auditable_node(tmp_path: Path) -> Iterator[NodeProcess]:
    """A dev node whose pruning window (the default, 256 blocks) spans the
    test: it sums events since a block minutes back."""
    node = NodeProcess(
        tmp_path / "node", fast_dev_spec(tmp_path / "spec.json"), extra=["--state-pruning", "256"]
    )
    try:
        yield node.start()
    finally:
        node.stop()


def test_a_session_opened_settled_and_closed_from_the_cli_and_the_sdk(auditable_node: NodeProcess) -> None:
    node, client = auditable_node, auditable_node.client
    registered = node.cli_json("provider", "register", "--from", "//alice", "--model", MODEL, "--price", "0.001",
                               "--memory-mb", "1024")  # fmt: skip
    assert registered["success"], registered

    opened = node.cli_json("session", "open", "--from", "//bob", "--model", MODEL, "--provider", "//alice",
                           "--deposit", "1.5", "--max-price", "0.002", "--expiry-blocks", "300")  # fmt: skip
    session, deposit = opened["id"], 1_500_000_000
    assert opened["user"] == opened["key"] == to_address(BOB.public)
    assert opened["provider"] == to_address(ALICE.public)
    assert (opened["price"], opened["deposit"], opened["paid"], opened["status"]) == (
        PRICE,
        deposit,
        0,
        "open",
    )
    assert node.rpc("vcoin_session", session) == opened | {"recentBatches": []}
    assert client.account(BOB.public)["reserved"] == deposit
    for who in ("//bob", "//alice"):
        assert [s["id"] for s in node.cli_json("session", "list", who)] == [session]

    # three requests: cheques signed by //bob's key (the session's), the last one settled
    book = ChequeBook(BOB, client.chain_id(), session)
    for units in (100, 180, 250):
        cheque = book.next(units, request_hash(f"request for {units}".encode()))
    fee = 250 * PRICE
    burned, alice = node.rpc("vcoin_supply")["burned"], client.account(ALICE.public)
    status = settle(client, session, cheque, count=3)
    tx_fee = next(e["data"]["fee"] for e in status["events"] if e["name"] == "ExtrinsicSuccess")
    settled = next(e["data"] for e in status["events"] if e["name"] == "Settled")
    assert (settled["fee"], settled["units"], settled["seq"]) == (fee, 250, 3)
    assert node.rpc("vcoin_supply")["burned"] - burned == ppm_of(fee, 150_000)
    alice_after = client.account(ALICE.public)
    if alice_after["nonce"] == alice["nonce"] + 1:  # no other transaction of //alice's in between
        assert (
            alice_after["free"] - alice["free"] == fee - ppm_of(fee, 150_000) - ppm_of(fee, 50_000) - tx_fee
        )
    record = node.cli_json("session", "status", str(session))
    assert (record["paid"], record["units"], record["seq"], record["count"], record["batches"]) == (
        fee,
        250,
        3,
        3,
        1,
    )
    assert client.account(BOB.public)["reserved"] == deposit - fee

    # the SDK: a drawn provider (//alice serves the model alone), cheques by a delegated key
    delegate = Keypair.generate()
    sdk_session = Market(node.url, key=BOB).session(
        MODEL, deposit="0.1", max_price="0.001", session_key=delegate
    )
    seen = sdk_session.status()
    assert (
        seen is not None and seen["provider"] == to_address(ALICE.public) and seen["key"] == delegate.address
    )
    settle(client, sdk_session.id, sdk_session.cheque(7, request_hash(b"one request")), count=1)

    closed = node.cli_json("session", "close", "--from", "//bob", str(session))
    assert closed["success"], closed
    sdk_session.close()
    closing = node.rpc("vcoin_session", session)
    assert closing["status"] == "closing" and closing["endsAt"] == closing["closedAt"] + SESSION_CLOSE_WINDOW
    while True:  # bob's balance as of one known block
        before = node.best()
        bob = client.account(BOB.public)
        if node.best() == before:
            break
    # a batch drawn for verification waits for its publication, which never comes
    # here (the logs are made up): its end waits too, and the batch is refunded
    wait_until(lambda: node.rpc("vcoin_session", session) is None, 180, "the session's end")
    sdk_session.wait_ended(180)
    after = client.account(BOB.public)
    assert after["reserved"] == 0
    refunded = rejected_batches(node, before + 1)
    # deposit = paid + refund, to the base unit (paid = provider's 80% + 15% burned + 5% verifiers'),
    # and a batch rejected for its missing publication is paid back whole
    assert after["free"] - bob["free"] == (deposit - fee) + (100_000_000 - 7 * PRICE) + refunded
    assert node.cli_json("session", "list", "//bob") == []

    missing = node.cli("session", "status", str(session))
    assert (
        missing.returncode == 1 and missing.stderr.strip().count("\n") == 0 and "no session" in missing.stderr
    )
