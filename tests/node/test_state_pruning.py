"""State pruning (node.state_pruning): after finality leaves a height behind
the window, exactly the trie nodes no kept state reaches are deleted; kept
states stay whole through forks, nodes built again after they were
replaced, restarts and a crash in the middle of a height."""

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genesis.spec import dev_spec
from node import chain as chain_module
from node import state_pruning
from node.chain import Chain
from node.node_store import NODE_PREFIX
from node.state_pruning import PRUNED, StatePruned, StatePruner
from node.storage import PRUNING_MODE, STATE_FLOOR, ChainStore
from runtime.codec import blake2b_256
from runtime.merkle import EMPTY_ROOT, TrieDB, present
from tests.chain import ALICE
from tests.node.test_flat_state import _block_on, steps
from tests.node.test_flat_state import alive as _alive

KEYS = [bytes([k]) for k in range(6)]  # few keys: values come back, so nodes are built again
VALUES = [b"", b"a", b"b"]  # b"" deletes

changes = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), min_size=1, max_size=4)
histories = st.lists(st.tuples(changes, st.lists(changes, max_size=2)), min_size=1, max_size=24)


def _stored(store: ChainStore) -> set[bytes]:
    n = len(NODE_PREFIX)
    return {key[n:] for key in store.db.iterator(prefix=NODE_PREFIX, include_value=False)}


def _reachable(trie: TrieDB, root: bytes) -> set[bytes]:
    found: set[bytes] = set()
    stack = [root]
    while stack:
        node_hash = stack.pop()
        if node_hash == EMPTY_ROOT or node_hash in found:
            continue
        found.add(node_hash)
        raw = trie.store.get(node_hash)
        assert raw is not None, f"missing node {node_hash.hex()}"
        if raw[0] == 1:
            stack += present(raw)
    return found


class Blocks:
    """Blocks as the node writes them: each one's nodes with its journal,
    the canonical ones in the number index."""

    def __init__(self, path: Path) -> None:
        self.store = ChainStore(path)
        self.store.journal_nodes = True  # as a pruning node's store
        self.store.put_meta(PRUNING_MODE, PRUNED)
        self.trie = TrieDB(self.store.nodes, cache_bytes=0)  # every read goes to LevelDB
        self.roots = [self.trie.update(EMPTY_ROOT, {b"genesis": b"0"})]
        self.models: list[dict[bytes, bytes]] = [{b"genesis": b"0"}]
        self._write(0, b"genesis", canonical=True)

    def _write(self, number: int, block_hash: bytes, canonical: bool) -> None:
        with self.store.db.write_batch() as batch:
            self.store.nodes.drain_into(
                batch, (number, block_hash) if number and self.store.journal_nodes else None
            )
            if canonical:
                batch.put(b"h:" + number.to_bytes(8, "big"), block_hash)

    def add(
        self, change: dict[bytes, bytes], canonical: bool, salt: int = 0
    ) -> tuple[bytes, dict[bytes, bytes]]:
        number = len(self.roots)
        root = self.trie.update(self.roots[-1], {k: v or None for k, v in change.items()})
        model = {k: v for k, v in {**self.models[-1], **change}.items() if v}
        self._write(number, blake2b_256(bytes([canonical, salt]) + number.to_bytes(8, "big")), canonical)
        if canonical:
            self.roots.append(root)
            self.models.append(model)
        return root, model


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories, keep=st.integers(1, 4))
def test_pruning_keeps_exactly_the_window(tmp_path_factory: Any, history: list[Any], keep: int) -> None:
    blocks = Blocks(tmp_path_factory.mktemp("db"))
    pruner = StatePruner(blocks.store, keep)
    forks: list[tuple[int, bytes, dict[bytes, bytes]]] = []
    for change, fork_changes in history:
        for salt, fork_change in enumerate(fork_changes):
            root, model = blocks.add(fork_change, canonical=False, salt=salt)
            forks.append((len(blocks.roots), root, model))
        blocks.add(change, canonical=True)
        pruner.finalized(len(blocks.roots) - 1)
        floor = max(0, len(blocks.roots) - keep)
        assert pruner.floor == floor
        kept: set[bytes] = set()
        for root, model in zip(blocks.roots[floor:], blocks.models[floor:], strict=True):
            assert dict(blocks.trie.items(root)) == model
            kept |= _reachable(blocks.trie, root)
        stored = _stored(blocks.store)
        assert kept <= stored
        if not forks:
            assert stored == kept  # nothing outside the window survives
    blocks.store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories, crash_after=st.integers(0, 6))
def test_a_crash_mid_height_resumes(tmp_path_factory: Any, history: list[Any], crash_after: int) -> None:
    """A pruner dying after some chunks of a height (a kill between two
    writes) leaves every kept state whole; a new one finishes the job."""
    path = tmp_path_factory.mktemp("db")
    blocks = Blocks(path)
    for change, _ in history:
        blocks.add(change, canonical=True)
    top = len(blocks.roots) - 1

    class Crash(Exception):
        pass

    dying = StatePruner(blocks.store, 1, chunk=1)
    original, calls = dying._delete_dead, [0]

    def delete_then_die(hashes: bytes, birth: bytes) -> None:
        if calls[0] == crash_after:
            raise Crash
        calls[0] += 1
        original(hashes, birth)

    dying._delete_dead = delete_then_die  # type: ignore[method-assign]
    with contextlib.suppress(Crash):  # when it has fewer chunks than that, it simply finishes
        dying.finalized(top)
    floor = int.from_bytes(blocks.store.meta(STATE_FLOOR) or bytes(8), "big")
    for root, model in zip(blocks.roots[floor:], blocks.models[floor:], strict=True):
        assert dict(blocks.trie.items(root)) == model
    StatePruner(blocks.store, 1).finalized(top)
    assert _stored(blocks.store) == _reachable(blocks.trie, blocks.roots[-1])
    blocks.store.close()


@pytest.mark.slow
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps, keep=st.integers(1, 3))
def test_a_pruned_chain_keeps_its_window(tmp_path_factory: Any, steps: list[Any], keep: int) -> None:
    """Random blocks on random parents (forks), finality moves and
    restarts: every state from the floor up reads whole, older ones answer
    StatePruned, and a block on a pruned parent is refused, not blamed."""
    path = tmp_path_factory.mktemp("chain")
    spec = dev_spec()
    store = ChainStore(path)
    chain = Chain(store, spec, state_pruning=keep)
    blocks = [chain.genesis.hash]
    slot = 0
    for kind, pick, transfers in steps:
        if kind == "restart":
            store.close()
            store = ChainStore(path)
            chain = Chain(store, spec, state_pruning=keep)
            continue
        usable = [h for h in blocks if _number(chain, h) >= chain.pruner.floor and _alive(chain, h)]
        if kind == "block" and usable:
            slot += 1
            blocks.append(_block_on(chain, usable[pick % len(usable)], slot, transfers))
        elif kind == "final":
            canonical = [h for h in blocks if chain.is_canonical(_number(chain, h), h)]
            chain.finalize(canonical[pick % len(canonical)], None)
        for block_hash in blocks:
            number = _number(chain, block_hash)
            if number < chain.pruner.floor:
                with pytest.raises(StatePruned, match="pruned"):
                    chain.state_at(block_hash)
            elif _alive(chain, block_hash):
                state = chain.state_at(block_hash)
                assert state is not None
                dict(chain.trie.items(state.root))  # every node there
            else:  # a dead fork: whole, or refused as pruned, never half there
                try:
                    state = chain.state_at(block_hash)
                except StatePruned:
                    continue
                assert state is not None
                dict(chain.trie.items(state.root))
    store.close()


def _number(chain: Chain, block_hash: bytes) -> int:
    header = chain.store.header(block_hash)
    assert header is not None
    return header.number


def _pruned_history(path: Path) -> tuple[Blocks, StatePruner]:
    blocks = Blocks(path)
    for i in range(8):
        blocks.add({KEYS[i % len(KEYS)]: VALUES[1 + i % 2], KEYS[(i + 1) % len(KEYS)]: b"b"}, canonical=True)
    return blocks, StatePruner(blocks.store, 1, chunk=1)


@contextlib.contextmanager
def _pruning_thread(path: Path) -> Iterator[tuple[Blocks, StatePruner, int]]:
    """A history, its pruner's thread running, and the top height."""
    blocks, pruner = _pruned_history(path)
    pruner.start()
    try:
        yield blocks, pruner, len(blocks.roots) - 1
    finally:
        pruner.stop()
        blocks.store.close()


def _wait_for(condition: Any, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_the_pruning_thread_holds_back_while_a_block_executes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Side by side the two threads trade the GIL at every LevelDB read:
    the pruner waits for the block, then does all of it."""
    monkeypatch.setattr(state_pruning, "YIELD_SECONDS", 600.0)
    with _pruning_thread(tmp_path / "db") as (blocks, pruner, top):
        with pruner.working():
            pruner.finalized(top)
            assert pruner.waiting.wait(60)  # at its first chunk, holding back
            time.sleep(0.2)
            assert pruner.waiting.is_set() and pruner.nodes_deleted == 0
        _wait_for(lambda: pruner.through == top)
        assert pruner.nodes_deleted > 0
        assert _stored(blocks.store) == _reachable(blocks.trie, blocks.roots[-1])


def test_the_pruning_thread_still_progresses_under_endless_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync executes blocks back to back: each wait runs out and a chunk goes."""
    monkeypatch.setattr(state_pruning, "YIELD_SECONDS", 0.01)
    with _pruning_thread(tmp_path / "db") as (blocks, pruner, top), pruner.working():
        pruner.finalized(top)
        _wait_for(lambda: pruner.through == top)
        assert _stored(blocks.store) == _reachable(blocks.trie, blocks.roots[-1])


def _finishes(work: Any, seconds: float = 60.0) -> None:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "still waiting"


def test_inline_pruning_inside_a_block_does_not_wait_for_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without its thread the pruner runs in the importing thread, inside
    `working`: it must not wait for the block it is part of."""
    monkeypatch.setattr(state_pruning, "YIELD_SECONDS", 600.0)
    blocks, pruner = _pruned_history(tmp_path / "db")

    def import_and_prune() -> None:
        with pruner.working():
            pruner.finalized(len(blocks.roots) - 1)

    _finishes(import_and_prune)
    assert _stored(blocks.store) == _reachable(blocks.trie, blocks.roots[-1])
    blocks.store.close()


def test_a_stop_ends_the_hold_back_and_deletes_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_pruning, "YIELD_SECONDS", 600.0)
    with _pruning_thread(tmp_path / "db") as (_, pruner, top):
        with pruner.working():
            pruner.finalized(top)
            assert pruner.waiting.wait(60)
            _finishes(pruner.stop)
        assert pruner.nodes_deleted == 0


def test_far_behind_finality_the_pruner_no_longer_holds_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long sync must not pile up garbage without bound: beyond
    MAX_BEHIND heights it prunes beside the imports, then holds back again."""
    monkeypatch.setattr(state_pruning, "YIELD_SECONDS", 600.0)
    monkeypatch.setattr(state_pruning, "MAX_BEHIND", 3)
    with _pruning_thread(tmp_path / "db") as (_, pruner, top), pruner.working():
        pruner.finalized(top)
        assert pruner.waiting.wait(60)
        assert pruner.through is not None and 0 < pruner._target - pruner.through <= 3
        assert pruner.nodes_deleted > 0


def test_a_chain_holds_the_pruner_back_while_it_imports_or_authors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = Chain(ChainStore(tmp_path / "db"), dev_spec(), state_pruning=1)
    held: dict[str, list[bool]] = {"apply_block": [], "build_block": []}
    for name, calls in held.items():
        real = getattr(chain_module, name)

        def recorded(*args: Any, _real: Any = real, _calls: list[bool] = calls, **kwargs: Any) -> Any:
            _calls.append(not chain.pruner._quiet.is_set())
            return _real(*args, **kwargs)

        monkeypatch.setattr(chain_module, name, recorded)
    try:
        _block_on(chain, chain.genesis.hash, 1, 2)  # built aside (a test helper), then imported
        chain.author_block(ALICE, 2, [])
        assert held == {"apply_block": [True], "build_block": [False, True]}
        assert chain.pruner._quiet.is_set()
    finally:
        chain.store.close()
