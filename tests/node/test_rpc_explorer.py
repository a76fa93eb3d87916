"""The dashboard's explorer methods on an in-process dev node: a block's
extrinsics decoded with their fees and outcomes, an account in full,
validators and the summary, each answer bounded."""

from pathlib import Path

from genesis.spec import dev_spec
from runtime.codec import encode
from runtime.constants import UNIT
from runtime.crypto import to_address
from runtime.types import Call, Extrinsic
from tests.node.test_history_index import ALICE, BOB, author, rpc
from tests.nodeproc import in_process_dev_node


def test_a_blocks_extrinsics_are_decoded_with_fee_and_outcome(tmp_path: Path) -> None:
    with in_process_dev_node(tmp_path) as node:
        chain_id = node.chain.spec.chain_id
        good = Call("balances", "transfer", {"to": ALICE.public, "amount": 2 * UNIT})
        bad = Call("balances", "transfer", {"to": ALICE.public, "amount": 10**17})  # an overdraft
        node.submit_extrinsic(Extrinsic.sign(BOB, chain_id, 0, good).encode())
        node.submit_extrinsic(Extrinsic.sign(BOB, chain_id, 1, bad).encode())
        author(node, 1)
        detail = rpc(node, "vcoin_blockDetail", 1)
        assert detail == rpc(node, "vcoin_blockDetail", rpc(node, "chain_getBlockHash", 1))
        assert detail["header"] == rpc(node, "chain_getHeader", detail["header"]["hash"])
        assert (
            detail["canonical"]
            and detail["time"] == detail["header"]["slot"] * dev_spec().params.slot_seconds
        )
        first, second = detail["extrinsics"]
        assert (first["pallet"], first["call"], first["signer"], first["nonce"]) == (
            "balances",
            "transfer",
            BOB.address,
            0,
        )
        assert first["args"] == {"to": ALICE.address, "amount": 2 * UNIT}
        assert first["success"] and first["fee"] > 0 and first["error"] is None
        assert (
            not second["success"] and second["error"] == "balances.InsufficientBalance" and second["fee"] > 0
        )
        transfer = next(e for e in detail["events"] if e["name"] == "Transfer")
        assert transfer["data"]["src"] == BOB.address and transfer["index"] == 0
        answer = node.rpc.handle(b'{"jsonrpc":"2.0","id":1,"method":"vcoin_blockDetail","params":[99]}')
        assert b"4003" in (answer or b"")


def test_an_account_in_full(tmp_path: Path) -> None:
    with in_process_dev_node(tmp_path) as node:
        author(node, 2, transfers=1)
        node.history.follow(node.chain)
        bob = rpc(node, "vcoin_accountView", BOB.address)
        assert bob["address"] == BOB.address and bob["nonce"] == 1
        assert bob["free"] == rpc(node, "vcoin_account", BOB.address)["free"]
        assert bob["staking"]["role"] == "none" and bob["vesting"] is None and bob["provider"] is None
        assert bob["jobs"] == [] and bob["sessions"] == []
        alice = rpc(node, "vcoin_accountView", ALICE.address)
        assert alice["staking"]["role"] == "validator" and alice["activity"]["authored"] == 2
        team = rpc(node, "vcoin_accountView", to_address(dev_spec().team))
        vesting = team["vesting"]
        assert vesting["total"] > 0 and 0 < vesting["vested"] <= vesting["total"]


def test_validators_and_the_summary(tmp_path: Path) -> None:
    with in_process_dev_node(tmp_path) as node:
        author(node, 3, transfers=1)
        node.history.follow(node.chain)
        (alice,) = rpc(node, "vcoin_validatorSet")
        assert alice["address"] == ALICE.address and alice["active"] and alice["authored"] == 3
        assert alice["votedLastJustification"] is True  # its own vote finalized the dev chain
        assert alice["bonded"] == rpc(node, "vcoin_staking", ALICE.address)["bonded"]
        assert rpc(node, "vcoin_validatorSet", 10, ALICE.address) == []  # the page after the last
        summary = rpc(node, "vcoin_summary")
        health = rpc(node, "system_health")
        assert summary["best"]["number"] == health["bestNumber"] == summary["indexedTo"] == 3
        assert summary["finalized"]["number"] == health["finalizedNumber"]
        assert summary["supply"]["minted"] == rpc(node, "vcoin_supply")["minted"]
        assert summary["validators"] == 1 and summary["totalStaked"] > 0
        assert summary["era"]["progress"] == 3 - summary["era"]["start"]
        assert summary["jobs"] == {"submitted": 0, "running": 0} and summary["slashesThisEra"] == 0
        assert summary["providers"] == {"registered": 0, "online": 0, "complete": True}
        methods = rpc(node, "rpc_methods")["methods"]
        assert methods == sorted(methods) and "vcoin_summary" in methods and "rpc_methods" in methods


def test_a_known_answer_seal_shows_only_its_hash(tmp_path: Path) -> None:
    """A sealed known answer is on chain only as its seal, which names no
    job: the explorer decodes it as it is (the validator's secrets stay in
    its worker, which no RPC method reads)."""
    with in_process_dev_node(tmp_path) as node:
        seal = Call("known_answers", "seal", {"seal": bytes(range(32))})
        node.submit_extrinsic(Extrinsic.sign(ALICE, node.chain.spec.chain_id, 0, seal).encode())
        author(node, 1)
        (shown,) = rpc(node, "vcoin_blockDetail", 1)["extrinsics"]
        assert shown["args"] == {"seal": "0x" + bytes(range(32)).hex()} and shown["success"]


def test_a_jobs_timeline(tmp_path: Path) -> None:
    with in_process_dev_node(tmp_path) as node:
        model = next(m for m in dev_spec().models if m[2] == "embed")[0]
        texts = encode(["a dashboard"])
        args = {"kind": "embed", "model": model, "input": texts, "input_hash": b"", "input_size": 0,
                "options": {}, "max_fee": UNIT, "deadline": 20, "min_reputation": 0}  # fmt: skip
        node.submit_extrinsic(
            Extrinsic.sign(BOB, node.chain.spec.chain_id, 0, Call("jobs", "submit", args)).encode()
        )
        author(node, 1)
        timeline = rpc(node, "vcoin_jobTimeline", 0)
        assert timeline == {"job": 0, "status": "pending", "steps": [{"step": "submitted", "at": 1}],
                            "verification": "none"}  # fmt: skip
        answer = node.rpc.handle(b'{"jsonrpc":"2.0","id":1,"method":"vcoin_jobTimeline","params":[7]}')
        assert b"4005" in (answer or b"")


def test_the_provider_set_lists_registered_providers_in_pages(tmp_path: Path) -> None:
    from genesis.spec import BUILTIN_MODELS

    with in_process_dev_node(tmp_path) as node:
        chain_id, model = node.chain.spec.chain_id, BUILTIN_MODELS[0][0]
        assert rpc(node, "vcoin_providerSet") == []
        calls = [Call("staking", "bond", {"amount": 1_000 * UNIT}),
                 Call("registry", "register_provider", {"models": [model], "memory_mb": 2048, "price": 7})]  # fmt: skip
        for nonce, call in enumerate(calls):
            node.submit_extrinsic(Extrinsic.sign(BOB, chain_id, nonce, call).encode())
        author(node, 1)
        (bob,) = rpc(node, "vcoin_providerSet")
        single = rpc(node, "vcoin_provider", BOB.address)
        assert bob["address"] == BOB.address and bob["models"] == single["models"] == ["0x" + model.hex()]
        assert (bob["price"], bob["memoryMb"], bob["stake"]) == (7, 2048, single["stake"])
        assert bob["reputation"] == single["reputation"] and bob["online"] is True
        assert rpc(node, "vcoin_providerSet", 10, BOB.address) == []  # the page after the last
        assert rpc(node, "vcoin_summary")["providers"] == {"registered": 1, "online": 1, "complete": True}
