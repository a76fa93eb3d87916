"""A store written before trie nodes carried their birth (node.storage_upgrade)
opens upgraded: every kept state reads whole, and pruning then deletes what
the old death marks would have (a crash midway through the upgrade resumes)."""

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from node import storage_upgrade
from node.node_store import BIRTH_BYTES, JOURNAL_PREFIX, NODE_PREFIX, NODE_SEQ
from node.state_pruning import StatePruner
from node.storage import ChainStore
from node.storage_upgrade import LEGACY_DEATH, LEGACY_JOURNAL, LEGACY_NODE
from tests.node.test_state_pruning import Blocks, _reachable, _stored, histories


def _legacy(path: Path) -> None:
    """Rewrite a closed store as the old code left it: nodes without their
    birth, and a death mark for each node the latest block that replaced it
    since its last birth (what the old import kept up to date)."""
    store = ChainStore(path)
    db = store.db
    journals = sorted(
        (value[:BIRTH_BYTES], key[len(JOURNAL_PREFIX) :], value[BIRTH_BYTES:])
        for key, value in db.iterator(prefix=JOURNAL_PREFIX)
    )
    births = {key[len(NODE_PREFIX) :]: value[-BIRTH_BYTES:] for key, value in db.iterator(prefix=NODE_PREFIX)}
    with db.write_batch() as batch:
        for birth, tag, hashes in journals:
            batch.put(LEGACY_JOURNAL + tag, hashes)
            batch.delete(JOURNAL_PREFIX + tag)
            for i in range(0, len(hashes), 32):
                node_hash = hashes[i : i + 32]
                if node_hash in births and births[node_hash] < birth:
                    batch.put(LEGACY_DEATH + node_hash, tag)  # later journals overwrite
        for key, value in db.iterator(prefix=NODE_PREFIX):
            batch.put(LEGACY_NODE + key[len(NODE_PREFIX) :], value[:-BIRTH_BYTES])
            batch.delete(key)
        batch.delete(NODE_SEQ)
    store.close()


def _history(path: Path, history: list[Any]) -> Blocks:
    blocks = Blocks(path)
    for change, fork_changes in history:
        for salt, fork_change in enumerate(fork_changes):
            blocks.add(fork_change, canonical=False, salt=salt)
        blocks.add(change, canonical=True)
    return blocks


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories)
def test_an_upgraded_store_prunes_as_the_old_marks_would(tmp_path_factory: Any, history: list[Any]) -> None:
    path = tmp_path_factory.mktemp("db")
    blocks = _history(path / "new", history)
    roots, models = blocks.roots, blocks.models
    blocks.store.close()
    shutil.copytree(path / "new", path / "old")
    _legacy(path / "old")

    store = ChainStore(path / "old")  # upgrades
    assert not storage_upgrade.needed(store.db)
    blocks.store, blocks.trie.store = store, store.nodes
    for root, model in zip(roots, models, strict=True):
        assert dict(blocks.trie.items(root)) == model  # nothing lost, nothing pruned yet
    StatePruner(store, 1).finalized(len(roots) - 1)
    assert dict(blocks.trie.items(roots[-1])) == models[-1]
    upgraded = _stored(store)
    store.close()

    fresh = ChainStore(path / "new")
    StatePruner(fresh, 1).finalized(len(roots) - 1)
    pruned_fresh = _stored(fresh)
    fresh.close()
    # The old marks leaked what a fork replaced after the canonical block
    # did; births do not. Without forks both keep exactly the last state.
    assert pruned_fresh <= upgraded
    if not any(forks for _, forks in history):
        assert upgraded == pruned_fresh


@pytest.mark.parametrize("step", [LEGACY_JOURNAL, LEGACY_NODE, LEGACY_DEATH])
def test_a_crash_midway_through_the_upgrade_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: bytes
) -> None:
    changes: list[Any] = [({bytes([k % 6]): bytes([97 + (k // 6) % 3])}, []) for k in range(30)]
    blocks = _history(tmp_path, changes)
    roots, models = blocks.roots, blocks.models
    blocks.store.close()
    _legacy(tmp_path)

    real_chunks, written = storage_upgrade._chunks, [0]

    def dying_chunks(db: Any, prefix: bytes, count: int) -> Any:
        for chunk in real_chunks(db, prefix, 4):  # small chunks: several writes per step
            if prefix == step and written[0] == 1:
                raise KeyboardInterrupt  # the kill lands between two writes of `step`
            written[0] += prefix == step
            yield chunk

    monkeypatch.setattr(storage_upgrade, "_chunks", dying_chunks)
    with pytest.raises(KeyboardInterrupt):
        ChainStore(tmp_path)
    monkeypatch.setattr(storage_upgrade, "_chunks", real_chunks)
    store = ChainStore(tmp_path)  # finishes the upgrade
    assert not storage_upgrade.needed(store.db)
    blocks.store, blocks.trie.store = store, store.nodes
    for root, model in zip(roots, models, strict=True):
        assert dict(blocks.trie.items(root)) == model
    StatePruner(store, 1).finalized(len(roots) - 1)
    assert _stored(store) == _reachable(blocks.trie, roots[-1])
    store.close()
