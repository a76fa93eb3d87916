"""The API on a node with no worker reaches providers on other nodes over
`/vcoin/<genesis>/serve/1`; when the session's provider node is killed, the
next request fails over to the other provider, and the user pays the dead
one for no more than it answered."""

import json
import os
import signal
from pathlib import Path

import pytest

from agent.models import PACKAGED
from runtime.crypto import dev_keypair, to_address
from tests.nodeproc import NodeProcess, fast_dev_spec, vcoin, wait_until
from tools.testnet import free_port

openai = pytest.importorskip("openai")
pytest.importorskip("transformers")
pytestmark = pytest.mark.slow
BOB = to_address(dev_keypair("//bob").public)
MINILM = PACKAGED[0]


def test_a_killed_provider_node_fails_over_to_another_provider(tmp_path: Path) -> None:
    spec = fast_dev_spec(tmp_path / "spec.json")
    port, keys = free_port(), tmp_path / "keys"
    api = NodeProcess(
        tmp_path / "api", spec, extra=["--api-port", str(port), "--api-keys", str(keys)]
    ).start()
    workers: dict[str, NodeProcess] = {}
    try:
        boot = api.rpc("system_localListenAddresses")[0]
        for name in ("charlie", "dave"):
            assert api.cli_json("tx", "bond", "--from", f"//{name}", "--amount", "200")["success"]
            workers[name] = NodeProcess(tmp_path / name, spec, dev=False, extra=[
                "--worker", "--key", f"//{name}", "--allow-dev-keys", "--executor", "local", "--bootnodes", boot,
            ]).start()  # fmt: skip
        model = api.rpc("vcoin_model", MINILM.name)["hash"]
        for name in workers:
            who = to_address(dev_keypair(f"//{name}").public)
            wait_until(
                lambda who=who: model in api.rpc("vcoin_provider", who)["models"], 120, f"{name} to serve"
            )
        made = vcoin("api-key", "new", "--account", "//bob", "--dir", str(keys), "--json")
        assert made.returncode == 0, made.stderr
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=json.loads(made.stdout)["key"],
                               max_retries=0, timeout=300)  # fmt: skip
        for i in range(3):
            client.embeddings.create(model=MINILM.name, input=f"before the kill {i}")
        (first,) = [s for s in api.rpc("vcoin_sessions", {"account": BOB}) if s["user"] == BOB]
        victim = next(n for n in workers if to_address(dev_keypair(f"//{n}").public) == first["provider"])
        proc = workers[victim].proc
        assert proc is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

        after = client.embeddings.create(model=MINILM.name, input="after the kill")
        assert len(after.data[0].embedding) == 384
        sessions = api.rpc("vcoin_sessions", {"account": BOB})
        survivor = [s for s in sessions if s["user"] == BOB and s["id"] != first["id"]]
        assert survivor and survivor[0]["provider"] != first["provider"]
        assert "it is avoided for a while" in api.log.read_text()
        dead = api.rpc("vcoin_session", first["id"])
        if dead is not None:  # still in its close window: it was paid for at most the 3 answered requests
            assert dead["status"] == "closing"
            per_request = first["units"] // max(first["seq"], 1) if first["seq"] else None
            assert dead["seq"] <= 3
            assert per_request is None or dead["paid"] <= 3 * per_request * dead["price"]
    finally:
        for node in (*workers.values(), api):
            if node.proc is not None and node.proc.poll() is None:
                node.stop()
