"""A LoRA job spread over two providers, each member run by its own sandboxed
runner (`LocalExecutor`) meeting the other at a rendezvous on loopback;
then a verifier's check of one member's rounds, honest and made up."""

import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agent.canonical import decode, encode
from agent.executor import Executor, LocalExecutor
from agent.job import JobSpec
from agent.tiny_models import tiny_causal_lm

TEXTS = [f"a fox runs {i} miles to the river and back" for i in range(8)]
OPTIONS = {"providers": 2, "sync_every": 3, "rounds": 2, "lr_ppm": 20_000, "seed": 1, "rank": 4, "alpha": 8}


def _rendezvous() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _spec(member: int, rendezvous: str = "") -> JobSpec:
    return JobSpec("lora", TEXTS, {**OPTIONS, "lead": 0, "member": member}, rendezvous)


@pytest.mark.slow
def test_two_sandboxed_members_train_one_adapter_and_a_made_up_delta_fails_its_check(tmp_path: Path) -> None:
    model = tiny_causal_lm(tmp_path / "model")
    executors = [LocalExecutor(log=tmp_path / f"runner{i}.log") for i in range(2)]
    try:
        lead, other = _run_pair(executors, model, {}).values()
        assert lead["adapter"] == other["adapter"] and len(lead["rounds"]) == OPTIONS["rounds"]
        honest = executors[0].verify(_spec(1), model, encode(other), 300)
        assert honest.match, honest.reason
        made_up: dict[str, Any] = dict(other)
        forged = list(other["deltas"])
        forged[1] = other["deltas"][0]  # round 1 claims round 0's delta: plausible, not computed
        made_up["deltas"] = forged
        caught = executors[0].verify(_spec(1), model, encode(made_up), 300)
        assert not caught.match and "round 1" in caught.reason
        # a chain of its own: round 1 shown starting where no committed round ended
        off_chain: dict[str, Any] = dict(other, starts=[other["starts"][0], other["starts"][0]])
        caught = executors[0].verify(_spec(1), model, encode(off_chain), 300)
        assert not caught.match and "no committed round produced" in caught.reason
        # an adapter that is not where its rounds led
        swapped: dict[str, Any] = dict(other, adapter=other["starts"][0])
        caught = executors[0].verify(_spec(1), model, encode(swapped), 300)
        assert not caught.match, caught.reason
    finally:
        for executor in executors:
            executor.close()


def test_a_member_joining_a_missing_group_fails_with_a_timeout(tmp_path: Path) -> None:
    from agent.diloco_group import Group

    with pytest.raises(Exception, match="(?i)timeout|timed out|connect"):
        Group.join(1, 2, _rendezvous(), timeout=2)


def _one_round_then_vanish(model: str, meet: str) -> None:
    """Member 1 for one round (the real computation), then gone, as if SIGKILLed."""
    import os

    import torch

    from agent import diloco
    from agent.diloco_group import Group
    from agent.diloco_progress import Progress, agree
    from agent.kinds import dlora, lora

    torch.set_num_threads(1)
    group = Group.join(1, 2, meet, timeout=60)
    net, batch, labels = lora.prepare(diloco.shard(TEXTS, 1, 2), Path(model), "cpu", OPTIONS)
    like = lora.adapter_of(net)
    _, current, _ = agree(group, Progress(), diloco.flatten(like), diloco.flatten(like) * 0)
    steps, _, lr, _ = dlora.settings(OPTIONS)
    delta, _ = dlora.round_delta(net, batch, labels, current, like, steps, lr)
    group.gather(delta)
    os._exit(0)


@pytest.mark.slow
def test_a_group_that_loses_a_member_goes_on_from_its_last_round_to_the_same_adapter(tmp_path: Path) -> None:
    import multiprocessing

    model = tiny_causal_lm(tmp_path / "model")
    executors = [LocalExecutor(log=tmp_path / f"runner{i}.log") for i in range(2)]
    try:
        whole = _run_pair(executors, model, {})  # the same job, never interrupted
        meet = _rendezvous()
        vanishing = multiprocessing.get_context("spawn").Process(
            target=_one_round_then_vanish, args=(str(model), meet)
        )
        vanishing.start()
        broken = decode(executors[0].run(_spec(0, meet), model, 300).encoded)
        vanishing.join(timeout=60)
        assert broken["partial"] and broken["round"] == 1  # the round both finished is kept
        resumed = _run_pair(executors, model, {0: encode(broken)})  # a replacement joins, from scratch
        assert resumed[0]["adapter"] == resumed[1]["adapter"] == whole[0]["adapter"]  # as if nothing happened
        assert (resumed[0]["first"], resumed[1]["first"]) == (0, 1)  # the replacement delivered round 1 on
        assert len(resumed[0]["deltas"]) == 2 and len(resumed[1]["deltas"]) == 1
        late = JobSpec("lora", TEXTS, {**_spec(1).options, "first": 1})  # as the chain records it
        check = executors[0].verify(late, model, encode(resumed[1]), 300)
        assert check.match, check.reason
        undeclared = executors[0].verify(_spec(1), model, encode(resumed[1]), 300)
        assert not undeclared.match and "first round" in undeclared.reason
    finally:
        for executor in executors:
            executor.close()


def _run_pair(executors: Sequence[Executor], model: Path, resume: dict[int, bytes]) -> dict[int, Any]:
    """Both members run at once, each in its own runner; their results by rank."""
    meet, done, failed = _rendezvous(), {}, []

    def member(rank: int) -> None:
        try:
            spec = JobSpec("lora", TEXTS, _spec(rank).options, meet, resume.get(rank, b""))
            done[rank] = decode(executors[rank].run(spec, model, 300).encoded)
        except BaseException as exc:  # reported below, not lost in the thread
            failed.append(exc)

    threads = [threading.Thread(target=member, args=(rank,)) for rank in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not failed, failed
    return dict(sorted(done.items()))
