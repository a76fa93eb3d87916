"""The blob store is bounded: past its quota the least recently referenced
blobs go first, fresh ones never, and a full store refuses new blobs
instead of filling the disk."""

import contextlib
import os
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from offchain.blobs import BlobStore, BlobStoreFull


def aged(store: BlobStore, data: bytes, seconds_ago: float) -> bytes:
    digest = store.put(data)
    then = time.time() - seconds_ago
    os.utime(store._path(digest), (then, then))
    return digest


def test_collect_drops_the_least_recently_referenced_first(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, quota=10_000, keep_fresh=60)
    old = aged(store, b"o" * 3_000, 7_200)
    older = aged(store, b"p" * 3_000, 9_000)
    referenced = aged(store, b"r" * 3_000, 8_000)
    store.touch(referenced)  # the chain named it in a new block
    fresh = store.put(b"f" * 3_000)  # over the quota: the oldest goes, down to 90% of it
    assert not store.has(older) and store.has(old) and store.has(referenced) and store.has(fresh)
    store.put(b"g" * 2_000)
    assert not store.has(old) and store.has(referenced) and store.has(fresh)
    assert store.used == 8_000 == BlobStore(tmp_path).used  # the count survives a restart
    assert store.count == 3 == BlobStore(tmp_path).count


def test_a_full_store_of_fresh_blobs_refuses_more(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, quota=5_000, keep_fresh=3_600)
    store.put(b"a" * 4_000)
    with pytest.raises(BlobStoreFull, match="quota"):
        store.put(b"b" * 2_000)
    assert store.put(b"a" * 4_000)  # a blob it holds is only touched


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3_000), st.integers(0, 20_000)), max_size=30))
def test_the_store_never_holds_more_than_its_quota(tmp_path_factory: pytest.TempPathFactory,
                                                   puts: list[tuple[int, int]]) -> None:  # fmt: skip
    root = tmp_path_factory.mktemp("blobs")
    store = BlobStore(root, quota=8_000, keep_fresh=3_600)
    for index, (size, age) in enumerate(puts):
        with contextlib.suppress(BlobStoreFull):
            aged(store, index.to_bytes(4, "big") * size, age)
        files = [p for p in root.rglob("*") if p.is_file()]
        assert sum(p.stat().st_size for p in files) == store.used <= store.quota
        assert len(files) == store.count


def test_uploads_no_job_references_churn_only_their_own_share(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, quota=8_000, keep_fresh=3_600)
    result = store.put(b"r" * 2_000)  # a worker's result: fresh, kept
    first = store.put(b"a" * 600, staged=True)
    referenced = store.put(b"b" * 300, staged=True)
    store.touch(referenced)  # a block named it: no longer staged
    for index in range(20):  # a flood of uploads never referenced
        store.put(bytes([index]) * 700, staged=True)
    assert store.has(result) and store.has(referenced) and not store.has(first)
    assert sum(store.staged.values()) <= 8_000 // 8
    assert store.count == sum(1 for p in tmp_path.rglob("*") if p.is_file())
    assert store.put(b"w" * 4_000)  # room for real work remains
    with pytest.raises(BlobStoreFull, match="references"):
        store.put(b"z" * 1_001, staged=True)
