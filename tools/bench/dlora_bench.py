"""`vcoin bench dlora`: one LoRA job on a tiny model, trained by one provider
and by K providers (DiLoCo rounds over gloo on loopback), in the same run.

Every provider is a separate process with one math thread (a provider is a
machine; here each gets one core). Figures:
- `ratio`: wall-clock speedup, the single provider's training time over the
  slowest of the K (goal ≥ 1.6 with 2 on 2 cores);
- `comm_reduction`: the bytes one provider sends in a ring all-reduce of the
  adapter's gradients every step, over what it sent (goal ≥ 50x at H = 50);
- `loss_gap`: the final adapter's loss on the whole dataset, relative to the
  single provider's after as many steps (goal ≤ 5%).
Training times exclude the interpreter's start, the model's first load and
the device's start (every process warms up with one step first);
`wall_seconds` includes everything.
"""

import multiprocessing
import random
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "and",
    "a",
    "cat",
    "runs",
    "far",
    "away",
    "from",
    "its",
    "home",
    "at",
    "night",
]


def dataset(count: int = 64, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(count)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _provider(
    rank: int, world: int, port: int, model: str, options: dict[str, int], device: str, backend: str, out: Any
) -> None:
    import torch

    from agent.diloco_group import Group
    from agent.kinds import dlora

    torch.set_num_threads(1)
    _warm(model, options, device)
    try:
        group = Group.join(rank, world, f"127.0.0.1:{port}", backend=backend)
        start = time.perf_counter()
        result = dlora.run(dataset(), Path(model), device, options, group)
        group.close()
        if result.get("partial"):
            raise RuntimeError(f"the group broke after {result['round']} rounds (its cause is logged above)")
    except Exception as exc:  # reported, not hung on: NCCL refuses two ranks on one GPU
        out.put((rank, 0.0, {"error": f"{type(exc).__name__}: {exc}"}))
        return
    out.put((rank, time.perf_counter() - start, result))


def _warm(model: str, options: dict[str, int], device: str) -> None:
    """One step on two texts: the timed part of every run then excludes the
    model's first load and the device's start (CUDA's takes seconds)."""
    from agent.job import JobSpec
    from agent.kinds import lora

    alone = {
        k: v for k, v in options.items() if k not in ("providers", "member", "lead")
    }  # one step, no group
    lora.run(JobSpec("lora", dataset()[:2], {**alone, "steps": 1}), Path(model), device)


def _single(model: str, options: dict[str, int], device: str, out: Any) -> None:
    import torch

    from agent.job import JobSpec
    from agent.kinds import lora

    torch.set_num_threads(1)
    steps = {**options, "steps": options["sync_every"] * options["rounds"]}
    _warm(model, options, device)
    start = time.perf_counter()
    result = lora.run(JobSpec("lora", dataset(), steps), Path(model), device)
    out.put((0, time.perf_counter() - start, result))


def _spawn(
    target: Any, args_of: list[tuple[Any, ...]]
) -> tuple[list[tuple[int, float, dict[str, Any]]], float]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    start = time.perf_counter()
    procs = [context.Process(target=target, args=(*args, out)) for args in args_of]
    for proc in procs:
        proc.start()
    try:
        results = sorted(out.get(timeout=3_600) for _ in procs)
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    return results, time.perf_counter() - start


def eval_loss(model: Path, adapter: bytes | None, options: dict[str, int]) -> float:
    """The loss on the whole dataset with `adapter` (None: the fresh one, before training)."""
    import torch
    from safetensors.torch import load

    from agent import diloco
    from agent.kinds import dlora, lora

    net, batch, labels = lora.prepare(dataset(), model, "cpu", options)
    if adapter is not None:
        dlora.load_adapter(net, diloco.flatten(load(adapter)), lora.adapter_of(net))
    net.eval()
    with torch.no_grad():
        return float(net(**batch, labels=labels).loss)


def run(
    providers: int = 2, sync_every: int = 50, rounds: int = 4, lr_ppm: int = 1_000, device: str = "cpu",
    backend: str = "store",
) -> dict[str, Any]:  # fmt: skip
    from safetensors.torch import load

    from agent.tiny_models import tiny_causal_lm

    if not 2 <= providers <= 8:
        raise ValueError("--providers is 2 to 8")
    if backend == "nccl" and not device.startswith("cuda"):
        raise ValueError("--backend nccl needs --device cuda")
    options = {
        "sync_every": sync_every,
        "rounds": rounds,
        "lr_ppm": lr_ppm,
        "seed": 3,
        "rank": 8,
        "alpha": 16,
    }
    model = tiny_causal_lm(Path(tempfile.mkdtemp(prefix="vcoin-bench-dlora-")) / "model")
    (single,), single_wall = _spawn(_single, [(str(model), options, device)])
    port = _free_port()
    spread, spread_wall = _spawn(
        _provider,
        [(rank, providers, port, str(model), options, device, backend) for rank in range(providers)],
    )
    errors = [result["error"] for _, _, result in spread if "error" in result]
    if errors:
        raise RuntimeError(f"{backend} on {device}: {errors[0]}")
    adapters = {result["adapter"] for _, _, result in spread}
    vector_bytes = sum(t.numel() for t in load(single[2]["adapter"]).values()) * 4
    ring_per_step = 2 * (providers - 1) / providers * vector_bytes
    sent = max(result["bytes_sent"] for _, _, result in spread)
    single_loss = eval_loss(model, single[2]["adapter"], options)
    spread_loss = eval_loss(model, spread[0][2]["adapter"], options)
    slowest = max(seconds for _, seconds, _ in spread)
    return {
        "name": "dlora", "device": device, "backend": backend, "providers": providers, "sync_every": sync_every, "rounds": rounds,
        "steps": sync_every * rounds, "ratio": single[1] / slowest, "single_seconds": single[1],
        "spread_seconds": slowest, "single_wall_seconds": single_wall, "spread_wall_seconds": spread_wall,
        "wall_ratio": single_wall / spread_wall, "adapter_bytes": vector_bytes, "bytes_sent": sent,
        "allreduce_bytes": ring_per_step * sync_every * rounds, "comm_reduction": ring_per_step * sync_every * rounds / sent,
        "start_loss": eval_loss(model, None, options), "single_loss": single_loss, "spread_loss": spread_loss, "loss_gap": (spread_loss - single_loss) / single_loss,
        "same_adapter_everywhere": len(adapters) == 1,
        "goals": {"ratio": ">= 1.6", "comm_reduction": ">= 50", "loss_gap": "<= 0.05"},
    }  # fmt: skip
