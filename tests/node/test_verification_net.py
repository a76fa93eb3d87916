"""Verification on a real net: three validators run workers serving the real
MiniLM embedding model; one reveals made-up results (the test plugin tests.plugins.misbehave).
Over 200 jobs, sampled checks, known-answer jobs, disputes and slashing
happen through the real verifier workers, executors and runtime."""

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from genesis.spec import BUILTIN_MODELS, DEV_VALIDATOR_BOND
from runtime.codec import encode
from runtime.constants import UNIT
from runtime.crypto import dev_keypair, from_address, to_address
from tests.node.test_network import Net
from tests.nodeproc import wait_until
from tests.plugins import misbehave

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow
PARAMS = {"job_commit_window": 60, "job_reveal_window": 5, "job_challenge_window": 8, "verify_window": 15,
          "sample_rate_ppm": 100_000, "known_answer_rate_ppm": 200_000}  # fmt: skip
JOBS = 200
PAYERS = ("dave", "eve", "ferdie")
CLOSED = ("settled", "refunded", "rejected")


def test_a_cheating_worker_is_caught_and_honest_ones_are_paid(tmp_path: Path) -> None:
    net = Net(tmp_path, validators=3, **PARAMS)
    for node in net.nodes:
        node.extra = ["--worker", "--executor", "local"]
    cheater = net.nodes[2]
    cheater.env = misbehave.env("cheat")  # a test plugin: the node has no such switch
    names = {node.name: to_address(dev_keypair(f"//{node.name}").public) for node in net.nodes}
    try:
        net.start()
        client = net.nodes[0].client
        wait_until(lambda: all(client.call("vcoin_provider", a)["models"] for a in names.values()), 60,
                   "all three workers to register")  # fmt: skip
        payers = [dev_keypair(f"//{name}") for name in PAYERS]
        for index in range(JOBS):
            client.submit_call(payers[index % len(payers)], "jobs", "submit", {
                "kind": "embed", "model": BUILTIN_MODELS[0][0], "input": encode([f"text number {index}"]),
                "input_hash": b"", "input_size": 0, "options": {}, "max_fee": UNIT, "deadline": 60,
                "min_reputation": 0,
            })  # fmt: skip
            time.sleep(0.1)
        cheat = names[cheater.name]
        wait_until(lambda: client.call("vcoin_staking", cheat)["bonded"] < DEV_VALIDATOR_BOND, 240,
                   "the cheating provider to be slashed")  # fmt: skip
        for name, address in names.items():
            if name != cheater.name:
                assert client.call("vcoin_staking", address)["bonded"] == DEV_VALIDATOR_BOND, name
        wait_until(lambda: any(j["status"] == "settled" and j["provider"] != cheat
                               for j in client.call("vcoin_jobs", {})), 120, "honest jobs to settle")  # fmt: skip
        assert client.call("vcoin_provider", cheat)["reputation"] < client.call("vcoin_provider",
                                                                                  names["alice"])["reputation"]  # fmt: skip
        payer_addresses = {to_address(key.public) for key in payers}
        tests = [j for j in client.call("vcoin_jobs", {}) if j["submitter"] not in payer_addresses]
        assert tests and all(j["kind"] == "embed" for j in tests), (
            "the validators submitted known-answer jobs"
        )
        honest = {from_address(a).hex()[:12] for name, a in names.items() if name != cheater.name}
        wait_until(lambda: any(f"the result of {h} is right" in logs(net) for h in honest), 120,
                   "an honest provider's known-answer job to be opened")  # fmt: skip
        for provider in honest:  # honest hardware never fails a known answer
            assert f"the result of {provider} is wrong" not in logs(net), provider

        def ordinary() -> list[dict[str, Any]]:
            return [j for a in payer_addresses for j in client.call("vcoin_jobs", {"submitter": a})]

        wait_until(lambda: all(j["status"] in CLOSED for j in ordinary()), 180, "every job to close")
        closed = ordinary()
        assert len(closed) == JOBS
        settled = [j for j in closed if j["status"] == "settled"]
        assert sum(j["provider"] != cheat for j in settled) >= JOBS // 2, Counter(j["status"] for j in closed)
        assert any(j["check"] == "passed" for j in settled if j["provider"] != cheat)  # re-executed, agreed
        assert any(j["check"] == "failed" for j in client.call("vcoin_jobs", {"provider": cheat}))
    finally:
        net.stop()


def logs(net: Net) -> str:
    return "".join(node.log.read_text() for node in net.nodes)
