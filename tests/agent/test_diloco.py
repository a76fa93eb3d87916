"""DiLoCo rounds: the round math, and two real provider processes over gloo
on loopback training one LoRA job on a tiny model."""

import multiprocessing
import socket
from pathlib import Path
from typing import Any

import pytest

from agent import diloco
from agent.canonical import digest
from agent.tiny_models import tiny_causal_lm

TEXTS = [f"text number {i} about a fox that runs {i % 3} miles" for i in range(12)]
OPTIONS = {"sync_every": 3, "rounds": 2, "lr_ppm": 20_000, "seed": 5, "rank": 4, "alpha": 8}


def test_shards_split_the_dataset_without_overlap() -> None:
    parts = [diloco.shard(TEXTS, rank, 3) for rank in range(3)]
    assert sorted(t for part in parts for t in part) == sorted(TEXTS)
    with pytest.raises(ValueError, match="cannot be shared"):
        diloco.shard(TEXTS[:1], 1, 2)
    with pytest.raises(ValueError, match="rank"):
        diloco.shard(TEXTS, 2, 2)


def test_flatten_round_trips_in_name_order() -> None:
    import torch

    adapter = {"b": torch.arange(6.0).reshape(2, 3), "a": torch.tensor([7.0])}
    vector = diloco.flatten(adapter)
    assert vector.tolist() == [7.0, 0, 1, 2, 3, 4, 5]
    back = diloco.unflatten(vector, adapter)
    assert all(torch.equal(back[k], adapter[k]) for k in adapter)
    with pytest.raises(ValueError):
        diloco.unflatten(vector[:-1], adapter)


def test_the_outer_step_without_momentum_is_averaging() -> None:
    import torch

    start = torch.tensor([1.0, 2.0])
    mean = diloco.mean_in_rank_order([torch.tensor([0.5, 0.0]), torch.tensor([0.1, 1.0])])
    after, momentum = diloco.outer_step(
        start, torch.zeros(2), mean, diloco.OuterSettings(lr=1.0, momentum=0.0)
    )
    assert torch.allclose(after, start - mean) and torch.equal(momentum, mean)
    nesterov, _ = diloco.outer_step(start, torch.zeros(2), mean, diloco.OuterSettings(lr=1.0, momentum=0.9))
    assert torch.allclose(nesterov, start - 1.9 * mean)  # the look-ahead of Nesterov's momentum


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _provider(rank: int, rendezvous: str, model: str, out: Any) -> None:
    import torch

    from agent.diloco_group import Group
    from agent.kinds import dlora

    torch.set_num_threads(1)
    group = Group.join(rank, 2, rendezvous, timeout=60)
    result = dlora.run(TEXTS, Path(model), "cpu", OPTIONS, group)
    group.close()
    out.put((rank, result))


def _pair(model: Path, rendezvous: list[str]) -> dict[int, dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    procs = [
        context.Process(target=_provider, args=(rank, rendezvous[rank], str(model), out)) for rank in range(2)
    ]
    for proc in procs:
        proc.start()
    results = dict(out.get(timeout=300) for _ in procs)
    for proc in procs:
        proc.join(timeout=60)
    return results


@pytest.mark.slow
def test_two_providers_end_with_one_adapter_and_a_round_re_executes(tmp_path: Path) -> None:
    from agent.kinds import dlora, lora

    model = tiny_causal_lm(tmp_path / "model")
    results = _pair(model, [f"127.0.0.1:{_free_port()}"] * 2)
    first, second = results[0], results[1]
    assert first["adapter"] == second["adapter"]  # the same averaged adapter, bit for bit
    assert [r["adapter"] for r in first["rounds"]] == [r["adapter"] for r in second["rounds"]]
    assert [r["delta"] for r in first["rounds"]] != [r["delta"] for r in second["rounds"]]  # their own shards
    assert len(first["loss"]) == OPTIONS["sync_every"] * OPTIONS["rounds"]
    # a verifier re-executes provider 1's first round from the starting adapter
    steps, _, lr, _ = dlora.settings(OPTIONS)
    net, batch, labels = lora.prepare(diloco.shard(TEXTS, 1, 2), model, "cpu", OPTIONS)
    like = lora.adapter_of(net)
    start = diloco.flatten(like)
    delta, _ = dlora.round_delta(net, batch, labels, start, like, steps, lr)
    assert digest(delta.numpy().tobytes()) == second["rounds"][0]["delta"]
    # one exchange a round, not a step, and the round each member reached when the group formed
    assert first["bytes_sent"] == OPTIONS["rounds"] * start.numel() * 4 + 4


@pytest.mark.slow
def test_members_without_a_network_meet_through_unix_sockets_and_train_the_same_adapter(
    tmp_path: Path,
) -> None:
    """What a Docker worker does: each member's process reaches the group
    only through a Unix socket, which a bridge outside joins to the lead's
    TCP address; the adapter is the one a direct pair trains."""
    from agent.diloco_group import outside_bridge

    model = tiny_causal_lm(tmp_path / "model")
    direct = _pair(model, [f"127.0.0.1:{_free_port()}"] * 2)
    address = f"127.0.0.1:{_free_port()}"
    paths = [str(tmp_path / f"member{rank}.sock") for rank in range(2)]
    bridges = [outside_bridge(rank, address, paths[rank]) for rank in range(2)]
    try:
        bridged = _pair(model, [f"unix:{path}" for path in paths])
    finally:
        for bridge in bridges:
            bridge.close()
    assert bridged[0]["adapter"] == bridged[1]["adapter"] == direct[0]["adapter"]
    assert bridged[1]["rounds"] == direct[1]["rounds"]
