"""Test-only behaviour lives in the test suite (issue 14): the node has no
cheating or equivocating switch; a node process of the test suite loads
`tests.plugins.misbehave` through the generic `VCOIN_TEST_PLUGIN` hook.
(The slow tests that use it: test_network's equivocating validator and
test_verification_net's cheating provider.)"""

import dataclasses
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from agent.canonical import decode, digest, encode
from agent.executor import Execution
from consensus.slots import slot_at, verify_seal
from node import cli
from node.gossip import BLOCKS
from node.service import Node, NodeConfig
from offchain import provider, setup
from offchain.provider import ProviderWorker, WorkerConfig
from runtime.types import Block
from tests.nodeproc import in_process_dev_node, vcoin
from tests.plugins import misbehave

PRODUCTION = ("node", "offchain", "runtime", "consensus", "agent", "genesis", "tools")
REPO = Path(__file__).resolve().parents[2]


def test_the_node_has_no_test_switches(tmp_path: Path) -> None:
    for flag in ("--test-equivocate", "--test-cheat"):
        out = vcoin("node", "--dev", "--base-path", str(tmp_path / "n"), flag)
        assert out.returncode == 2 and "unrecognized arguments" in out.stderr, out.stderr
    assert not {"cheat", "equivocate"} & {f.name for f in dataclasses.fields(NodeConfig)}
    assert "cheat" not in {f.name for f in dataclasses.fields(WorkerConfig)}
    assert not hasattr(provider, "lazy_result") and not hasattr(Node, "_equivocate")
    for package in PRODUCTION:
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text()
            for word in ("VCOIN_ALLOW_TEST_SWITCHES", "test_cheat", "test_equivocate", "lazy_result"):
                assert word not in text, f"{word} in {path.relative_to(REPO)}"


def test_without_the_variable_no_plugin_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cli.TEST_PLUGIN_ENV, raising=False)
    assert cli.load_test_plugin() is None


def test_a_named_plugin_is_installed_and_said_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "probe_plugin.py").write_text("installed = []\ndef install():\n    installed.append(1)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(cli.TEST_PLUGIN_ENV, "probe_plugin")
    with caplog.at_level(logging.WARNING, "vcoin.node"):
        assert cli.load_test_plugin() == "probe_plugin"
    assert sys.modules["probe_plugin"].installed == [1]
    assert "TEST PLUGIN probe_plugin LOADED" in caplog.text
    monkeypatch.delitem(sys.modules, "probe_plugin")


def test_a_plugin_that_cannot_load_stops_the_node_with_one_line(tmp_path: Path) -> None:
    for name, why in (("tests.plugins.nowhere", "cannot import it"), ("tests.plugins", "no install()")):
        out = vcoin("node", "--dev", "--base-path", str(tmp_path / "n"), env={cli.TEST_PLUGIN_ENV: name})
        assert out.returncode == 1, out.stderr
        last = out.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: {cli.TEST_PLUGIN_ENV}={name}") and why in last, out.stderr


def test_the_plugin_refuses_unknown_behaviours() -> None:
    with pytest.raises(ValueError, match="VCOIN_MISBEHAVE"):
        misbehave.install("", patch=lambda *args: None)
    with pytest.raises(ValueError, match="VCOIN_MISBEHAVE"):
        misbehave.install("equivocate,lie", patch=lambda *args: None)
    assert misbehave.env("cheat") == {
        "VCOIN_TEST_PLUGIN": "tests.plugins.misbehave",
        "VCOIN_MISBEHAVE": "cheat",
    }


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    with in_process_dev_node(tmp_path) as running:
        yield running


def _author(node: Node) -> list[Block]:
    published: list[Block] = []
    node._publish = lambda topic, item: published.append(Block.decode(item)) if topic == BLOCKS else None  # type: ignore[method-assign]
    slot = max(slot_at(time.time(), node.chain.spec.params.slot_seconds), node.chain.best.slot + 1)
    assert node.author_slot(slot) is not None
    return published


def test_an_equivocating_node_gossips_a_second_block_for_its_slot(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(_author(node)) == 1  # an honest node: one block a slot
    misbehave.install("equivocate", patch=monkeypatch.setattr)
    block, twin = _author(node)
    assert block.hash != twin.hash and node.chain.best.hash == block.hash  # the twin is only gossiped
    assert (twin.header.slot, twin.header.parent_hash, twin.header.number) == (
        block.header.slot, block.header.parent_hash, block.header.number,
    )  # fmt: skip
    assert twin.header.author == block.header.author and verify_seal(twin.header, twin.seal)


class _Executor:
    name = "probe"

    def __init__(self) -> None:
        self.closed = False

    def run(self, spec: Any, model_path: Path, timeout: float) -> Execution:
        encoded = encode({"vectors": [[1, 2, 3], [4, 5, 6]], "dim": 3})
        return Execution(encoded, digest(encoded), 0.5)

    def close(self) -> None:
        self.closed = True


def test_a_cheating_provider_reveals_results_of_the_right_shape_made_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def worker() -> ProviderWorker:
        config = WorkerConfig(price=1, memory_mb=1)
        return ProviderWorker(
            cast(Any, None), cast(Any, _Executor()), {}, cast(Any, None), cast(Any, None), config
        )

    honest = worker().executor.run(cast(Any, None), Path("."), 1.0)
    misbehave.install("cheat", patch=monkeypatch.setattr)
    lazy = worker()
    made_up = lazy.executor.run(cast(Any, None), Path("."), 1.0)
    assert made_up.hash != honest.hash and made_up.hash == digest(made_up.encoded)
    payload = decode(made_up.encoded)
    assert payload["dim"] == 3 and [len(row) for row in payload["vectors"]] == [3, 3]
    assert lazy.executor.name == "probe"
    lazy.executor.close()
    assert cast(Any, lazy.executor).inner.closed  # everything but the result is the real executor's
    assert "cheat" not in setup.build_provider_worker.__code__.co_varnames
