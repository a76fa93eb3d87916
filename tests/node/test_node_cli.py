"""`vcoin node` subcommands (purge-chain, key inspect, slashing-protection
export/import) as a user runs them, and the operator addressing flags."""

import json
from pathlib import Path
from typing import Any

import pytest

from genesis.spec import dev_spec, local_spec
from node import cli as node_cli
from node.chain import Chain
from node.p2p import load_node_key, peer_id_of
from node.service import NodeConfig
from node.slashing_protection import SignedRange, SlashingProtection
from node.storage import ChainStore
from tests.chain import ALICE, BOB
from tests.nodeproc import vcoin
from tools import cli as tools_cli

HASH = bytes(32)


def _base_path(base: Path) -> Path:
    """A stopped validator's base path: a database, a keystore, a node key,
    worker progress and slashing protection."""
    Chain(ChainStore(base / "db"), dev_spec()).store.close()
    (base / "keystore").mkdir()
    (base / "keystore" / "mykey.json").write_text("{}")
    load_node_key(base / "network" / "secret_ed25519")
    (base / "worker" / "jobs").mkdir(parents=True)
    (base / "blobs").mkdir()
    SlashingProtection(base, dev_spec().chain_id).register(ALICE.public, 3, 4, HASH)
    return base


def test_purge_chain_removes_only_the_database(tmp_path: Path) -> None:
    base = _base_path(tmp_path / "node")
    node_key = (base / "network" / "secret_ed25519").read_bytes()
    out = vcoin("node", "purge-chain", "--base-path", str(base), "-y")
    assert out.returncode == 0, out.stderr
    assert f"Removed {base / 'db'}" in out.stdout
    for kept in ("keystore", "network", "slashing_protection", "worker", "blobs"):
        assert f"Kept    {base / kept}" in out.stdout
        assert (base / kept).exists()
    assert not (base / "db").exists()
    assert (base / "network" / "secret_ed25519").read_bytes() == node_key
    assert SlashingProtection(base, dev_spec().chain_id).get(ALICE.public) == SignedRange(3, 4, HASH)
    assert sorted(p.name for p in base.iterdir()) == sorted(
        ["keystore", "network", "slashing_protection", "worker", "blobs"]
    )

    again = vcoin("node", "purge-chain", "--base-path", str(base), "-y")
    assert again.returncode == 0 and "Nothing to purge" in again.stdout


def test_purge_chain_asks_first_takes_flags_before_it_and_can_drop_blobs(tmp_path: Path) -> None:
    base = _base_path(tmp_path / "node")
    unasked = vcoin("node", "purge-chain", "--base-path", str(base))
    assert unasked.returncode == 1 and "pass -y" in unasked.stderr
    assert unasked.stderr.count("\n") == 1 and (base / "db").exists()
    out = vcoin("node", "--base-path", str(base), "purge-chain", "-y", "--blobs")
    assert out.returncode == 0, out.stderr
    assert not (base / "db").exists() and not (base / "blobs").exists()
    assert (base / "keystore").exists()


def test_purge_chain_refuses_a_database_in_use(tmp_path: Path) -> None:
    base = _base_path(tmp_path / "node")
    running = ChainStore(base / "db")  # as a running node holds it
    try:
        out = vcoin("node", "purge-chain", "--base-path", str(base), "-y")
    finally:
        running.close()
    assert out.returncode == 1 and "in use" in out.stderr and out.stderr.count("\n") == 1
    assert (base / "db" / "CURRENT").exists()


def test_key_inspect_prints_the_peer_id_creating_the_key_once(tmp_path: Path) -> None:
    base = tmp_path / "node"
    first = vcoin("node", "key", "inspect", "--base-path", str(base))
    assert first.returncode == 0, first.stderr
    assert "Generated a new node key" in first.stderr
    expected = peer_id_of(load_node_key(base / "network" / "secret_ed25519"))
    assert first.stdout.strip() == expected
    again = vcoin("node", "--base-path", str(base), "key", "inspect", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {
        "peerId": expected,
        "path": str(base / "network" / "secret_ed25519"),
        "created": False,
    }
    (base / "network" / "secret_ed25519").write_bytes(b"short")
    broken = vcoin("node", "key", "inspect", "--base-path", str(base))
    assert broken.returncode == 1 and "32-byte" in broken.stderr


def test_slashing_protection_export_and_import(tmp_path: Path) -> None:
    old = _base_path(tmp_path / "old")
    SlashingProtection(old, dev_spec().chain_id).register(BOB.public, 1, 9, HASH)
    exported = tmp_path / "votes.json"
    out = vcoin("node", "slashing-protection", "export", "--base-path", str(old), "--out", str(exported))
    assert out.returncode == 0, out.stderr
    document = json.loads(exported.read_text())
    assert document["metadata"]["genesis"] == "0x" + dev_spec().chain_id.hex()
    assert len(document["data"]) == 2
    stdout = vcoin("node", "slashing-protection", "export", "--base-path", str(old))
    assert json.loads(stdout.stdout) == document

    new = tmp_path / "new"  # a fresh machine: nothing there yet, the dev chain by default
    SlashingProtection(new, dev_spec().chain_id).register(BOB.public, 5, 6, HASH)
    out = vcoin("node", "slashing-protection", "import", "--base-path", str(new), str(exported), "--json")
    assert out.returncode == 0, out.stderr
    rows = {row["pubkey"]: row for row in json.loads(out.stdout)["imported"]}
    assert rows["0x" + BOB.public.hex()]["sourceNumber"] == 5  # the maximum of both sides
    assert rows["0x" + BOB.public.hex()]["targetNumber"] == 9
    store = SlashingProtection(new, dev_spec().chain_id)
    assert store.get(ALICE.public) == SignedRange(3, 4, HASH)
    assert store.get(BOB.public) == SignedRange(5, 9, HASH)

    foreign = vcoin("node", "slashing-protection", "import", "--base-path", str(new), "--chain", "local",
                    str(exported))  # fmt: skip
    assert foreign.returncode == 1
    assert "is for chain" in foreign.stderr and foreign.stderr.count("\n") == 1
    assert SlashingProtection(new, local_spec().chain_id).pubkeys() == []

    junk = tmp_path / "junk.json"
    junk.write_text("not json")
    bad = vcoin("node", "slashing-protection", "import", "--base-path", str(new), str(junk))
    assert bad.returncode == 1 and "not JSON" in bad.stderr


def test_slashing_protection_import_waits_for_the_node_to_stop(tmp_path: Path) -> None:
    base = _base_path(tmp_path / "node")
    exported = tmp_path / "votes.json"
    vcoin("node", "slashing-protection", "export", "--base-path", str(base), "--out", str(exported))
    running = ChainStore(base / "db")
    try:
        out = vcoin("node", "slashing-protection", "import", "--base-path", str(base), str(exported))
    finally:
        running.close()
    assert out.returncode == 1 and "in use" in out.stderr


class _Captured:
    configs: list[NodeConfig] = []

    def __init__(self, config: NodeConfig) -> None:
        self.configs.append(config)

    async def run(self) -> None:
        return None


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[NodeConfig]:
    """Run `vcoin node` in-process up to the node it would start."""
    monkeypatch.setattr(node_cli, "Node", _Captured)
    _Captured.configs = []
    return _Captured.configs


def _node(*argv: str) -> Any:
    return tools_cli.main(["node", *argv])


def test_listen_and_public_addresses_reach_the_config(captured: list[NodeConfig], tmp_path: Path) -> None:
    from node.p2p_addresses import ipv6_bind_problem

    assert _node("--dev", "--base-path", str(tmp_path / "a")) == 0
    every = ["0.0.0.0", "::"] if ipv6_bind_problem(30333) is None else ["0.0.0.0"]  # IPv6 where it works
    assert captured[-1].listen_addrs == every and captured[-1].public_addrs == []
    assert captured[-1].p2p_host == "0.0.0.0" and captured[-1].rpc_host == "127.0.0.1"
    code = _node(
        "--dev", "--base-path", str(tmp_path / "b"), "--listen-addr", "::", "--listen-addr", "10.1.2.3",
        "--public-addr", "/ip4/203.0.113.7/tcp/30333", "--public-addr", "/dns4/node.example.org/tcp/30333",
    )  # fmt: skip
    assert code == 0
    config = captured[-1]
    assert config.listen_addrs == ["::", "10.1.2.3"] and config.p2p_host == "10.1.2.3"
    assert config.public_addrs == ["/ip4/203.0.113.7/tcp/30333", "/dns4/node.example.org/tcp/30333"]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--public-addr", "203.0.113.7:30333", "is not a multiaddr"),
        ("--public-addr", "/ip4/203.0.113.7/udp/30333", "must name a host and a TCP port"),
        ("--public-addr", "/ip4/999.0.0.1/tcp/1", "is not a multiaddr"),
        ("--listen-addr", "localhost", "is not an IP address"),
    ],
)
def test_bad_addresses_are_refused_with_one_line(flag: str, value: str, message: str, tmp_path: Path) -> None:
    out = vcoin("node", "--dev", "--base-path", str(tmp_path / "n"), flag, value)
    assert out.returncode == 1
    assert message in out.stderr and out.stderr.count("\n") == 1 and out.stderr.startswith("error:")


def test_only_a_failed_bind_blames_the_port() -> None:
    """A Docker API error is an OSError too; the node once printed it with
    "is another node using the port?" and sent the operator the wrong way."""
    import errno

    import requests

    in_use = OSError(errno.EADDRINUSE, "Address already in use")
    assert node_cli._os_error(in_use) == "Address already in use (is another node using the port?)"
    docker_said = requests.HTTPError("400 Client Error: Bad Request (Range of CPUs is from 0.01 to 2.00)")
    assert node_cli._os_error(docker_said) == str(docker_said)
    assert "port" not in node_cli._os_error(OSError(errno.ENOSPC, "No space left on device"))


def test_packaged_models_names_what_a_worker_serves() -> None:
    assert node_cli._packaged(None) is None  # every installed one
    assert node_cli._packaged("none") == ()
    assert node_cli._packaged("all-minilm-l6-v2, smollm2-135m") == ("all-minilm-l6-v2", "smollm2-135m")
    with pytest.raises(ValueError, match="unknown gpt-9"):
        node_cli._packaged("gpt-9")
