"""`vcoin bench dlora`: real provider processes over gloo on loopback, at a
size a test can afford; the figures are computed, not asserted fast."""

import pytest

from agent.diloco_group import Group
from tools.bench import dlora_bench


def test_a_group_backend_is_the_store_gloo_or_nccl() -> None:
    with pytest.raises(ValueError, match="one of store, gloo, nccl"):
        Group.join(0, 2, "127.0.0.1:1", backend="mpi")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["store", "gloo"])
def test_the_bench_trains_one_adapter_and_counts_the_bytes_it_saved(backend: str) -> None:
    report = dlora_bench.run(providers=2, sync_every=4, rounds=2, backend=backend)
    assert report["same_adapter_everywhere"]
    assert report["steps"] == 8 and report["device"] == "cpu" and report["backend"] == backend
    # one exchange a round against a ring all-reduce every step: about H times fewer bytes
    assert report["comm_reduction"] == pytest.approx(4, rel=0.01)
    assert report["single_loss"] < report["start_loss"] and report["spread_loss"] < report["start_loss"]
    assert report["ratio"] > 0 and report["single_seconds"] > 0


def test_nccl_needs_a_cuda_device() -> None:
    with pytest.raises(ValueError, match="needs --device cuda"):
        dlora_bench.run(providers=2, sync_every=1, rounds=1, backend="nccl")
