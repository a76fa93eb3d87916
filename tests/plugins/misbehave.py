"""A node that misbehaves on purpose, for the tests that prove the chain
punishes it. Loaded into a node process by the production hook
`node.cli.load_test_plugin` when the process's environment says

    VCOIN_TEST_PLUGIN=tests.plugins.misbehave VCOIN_MISBEHAVE=equivocate,cheat

(`env("equivocate")` gives that environment). The node's own code has no
test switches; `install()` wraps two of its seams instead:

- `equivocate`: after each block this validator authors, it gossips a
  second, different block for the same slot, on the same parent (slashed
  half its bond by the validators that see both).
- `cheat`: the provider worker's executor returns results of the right
  shape with made-up numbers (caught by re-execution and known-answer jobs).
- `bad_state`: the state chunks this node serves to warp-syncing peers are
  tampered with (a leaf value or an inner node byte changed).
- `slow_warp`: this node's own warp download stores a few subtrees at a
  time, slowly, and logs each chunk stored (so a test can kill it midway).
"""

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.canonical import decode as decode_result
from agent.canonical import digest, encode
from agent.executor import Execution, Executor, OnPiece
from agent.job import JobSpec
from node import warp_download
from node.chain import ImportedBlock
from node.gossip import BLOCKS
from node.service import Node, short
from node.warp_download import Download
from node.warp_protocol import StateServer
from offchain.provider import ProviderWorker
from runtime.types import Call, Extrinsic

PLUGIN = __name__
BEHAVIOURS_ENV = "VCOIN_MISBEHAVE"
log = logging.getLogger("vcoin.test-plugin")
Patch = Callable[[Any, str, Any], None]


def env(*behaviours: str) -> dict[str, str]:
    """The environment of a node process that misbehaves so."""
    unknown = set(behaviours) - set(BEHAVIOURS)
    assert behaviours and not unknown, f"unknown behaviours {unknown}; known: {sorted(BEHAVIOURS)}"
    return {"VCOIN_TEST_PLUGIN": PLUGIN, BEHAVIOURS_ENV: ",".join(behaviours)}


def install(behaviours: str | None = None, patch: Patch = setattr) -> None:
    """Install the behaviours named (default: `VCOIN_MISBEHAVE`'s); `patch`
    sets the wrapped attributes (pytest's `monkeypatch.setattr` in-process)."""
    names = [n for n in (behaviours or os.environ.get(BEHAVIOURS_ENV, "")).split(",") if n]
    unknown = set(names) - set(BEHAVIOURS)
    if not names or unknown:
        raise ValueError(f"{BEHAVIOURS_ENV} must name some of {sorted(BEHAVIOURS)}, not {names}")
    for name in names:
        BEHAVIOURS[name](patch)
        log.warning("test plugin: this node will %s", name)


# -- equivocate -----------------------------------------------------------------
def _equivocate(patch: Patch) -> None:
    authored = Node._authored

    def authored_twice(node: Node, imported: ImportedBlock, rejected: Any) -> ImportedBlock:
        result = authored(node, imported, rejected)
        twin_of(node, imported)
        return result

    patch(Node, "_authored", authored_twice)


def twin_of(node: Node, imported: ImportedBlock) -> None:
    """A second, different block for the slot of the one just authored."""
    key, header = node.config.validator_key, imported.block.header
    state = node.chain.state_at(header.parent_hash)
    if key is None or state is None:
        return
    nonce = node.pool.next_nonce(state, key.public)
    call = Call("balances", "transfer", {"to": key.public, "amount": 1})
    twin_tx = Extrinsic.sign(key, node.chain.spec.chain_id, nonce, call).encode()
    twin = node.chain.build_sealed(key, header.parent_hash, header.slot, [twin_tx])
    log.warning("test plugin: equivocating in slot %d with %s", header.slot, short(twin.hash))
    node._publish(BLOCKS, twin.encode())


# -- cheat --------------------------------------------------------------------------
class LazyExecutor:
    """The provider's executor, whose results are made up after the run."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.name = inner.name

    def run(
        self, spec: JobSpec, model_path: Path, timeout: float, on_piece: OnPiece | None = None
    ) -> Execution:
        return lazy_result(self.inner.run(spec, model_path, timeout))  # nothing honest is streamed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def lazy_result(done: Execution) -> Execution:
    """The same shape of result, made-up numbers."""
    payload = decode_result(done.encoded)
    noise = int.from_bytes(os.urandom(4), "big")
    for key in ("vectors", "tokens", "loss"):
        if key in payload:
            payload[key] = [[(noise + i) % 997 for i, _ in enumerate(row)] if isinstance(row, list)
                            else (noise + i) % 997 for i, row in enumerate(payload[key])]  # fmt: skip
    encoded = encode(payload)
    return Execution(encoded, digest(encoded), done.seconds)


def _cheat(patch: Patch) -> None:
    init = ProviderWorker.__init__

    def lazy_init(worker: ProviderWorker, chain: Any, executor: Executor, *args: Any, **kwargs: Any) -> None:
        init(worker, chain, LazyExecutor(executor), *args, **kwargs)

    patch(ProviderWorker, "__init__", lazy_init)


# -- bad_state, slow_warp ------------------------------------------------------------
def _bad_state(patch: Patch) -> None:
    honest = StateServer._nodes

    def tampered(server: StateServer, root: bytes, max_leaves: int, hashes: list[bytes]) -> list[Any]:
        status, answers = honest(server, root, max_leaves, hashes)
        for wire in answers:
            if len(wire) == 2 and type(wire[1]) is bytes:  # an inner node
                wire[1] = wire[1][:-1] + bytes([wire[1][-1] ^ 1])
            elif len(wire) == 2:  # leaves: change the first value
                wire[1][1] = wire[1][1] + b"!"
        if answers:
            log.warning("test plugin: serving %d tampered state chunks", len(answers))
        return [status, answers]

    patch(StateServer, "_nodes", tampered)


def _slow_warp(patch: Patch) -> None:
    patch(warp_download, "BATCH", 2)
    store = Download._prove_and_store

    def slowly(download: Download, batch: Any, answers: Any) -> Any:
        time.sleep(0.2)
        result = store(download, batch, answers)
        log.warning("test plugin: warp chunk stored, %d keys so far", download._stored.keys)
        return result

    patch(Download, "_prove_and_store", slowly)


BEHAVIOURS: dict[str, Callable[[Patch], None]] = {
    "equivocate": _equivocate, "cheat": _cheat, "bad_state": _bad_state, "slow_warp": _slow_warp,
}  # fmt: skip
