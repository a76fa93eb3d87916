"""Prove distributed LoRA on a GPU machine:

    VCOIN_TINY_TOKENIZER=DIR python -m tools.gpu_check_dlora [--json OUT]

- two providers train one job on CUDA (one process each, sharing the GPU),
  exchanging through the group's store as workers do, and the same job on
  the CPU: the adapters' drift;
- a CPU verifier re-executes the CUDA member's rounds (`check_member`), and a
  CUDA verifier the CPU member's: the verdicts and the deltas' drift against
  the LoRA tolerance, measured on real hardware;
- `vcoin bench dlora` on CUDA through the store, with gloo and with NCCL (NCCL refuses two ranks
  on one GPU: the error is reported, as what a one-GPU machine can show).
"""

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from tools.bench import dlora_bench

OPTIONS = {"sync_every": 20, "rounds": 3, "lr_ppm": 1_000, "seed": 3, "rank": 8, "alpha": 16, "providers": 2}


def _group(model: Path, device: str) -> list[dict[str, Any]]:
    port = dlora_bench._free_port()
    args = [(rank, 2, port, str(model), OPTIONS, device, "store") for rank in range(2)]
    results, _ = dlora_bench._spawn(dlora_bench._provider, args)
    for _, _, result in results:
        if "error" in result:
            raise RuntimeError(result["error"])
    return [result for _, _, result in results]


def _round_drift(a: dict[str, Any], b: dict[str, Any]) -> float:
    from agent.diloco_progress import vector_of

    return max(
        float((vector_of(x) - vector_of(y)).abs().max())
        for x, y in zip(a["deltas"], b["deltas"], strict=True)
    )


def cross_device(model: Path) -> dict[str, Any]:
    from safetensors.torch import load

    from agent.job import JobSpec
    from agent.kinds import dlora

    found: dict[str, Any] = {}
    runs = {device: _group(model, device) for device in ("cpu", "cuda")}
    a, b = load(runs["cpu"][0]["adapter"]), load(runs["cuda"][0]["adapter"])
    found["final_adapter_drift"] = max(float((a[k] - b[k]).abs().max()) for k in a)
    found["same_adapter_in_group"] = {d: r[0]["adapter"] == r[1]["adapter"] for d, r in runs.items()}
    found["member0_round_delta_drift"] = _round_drift(runs["cpu"][0], runs["cuda"][0])
    spec = JobSpec("lora", dlora_bench.dataset(), {**OPTIONS, "member": 0})
    for checker, claimed in (("cpu", "cuda"), ("cuda", "cpu")):
        verdict = dlora.check_member(spec, model, checker, runs[claimed][0])
        found[f"{checker}_checks_{claimed}"] = {"match": verdict.match, "reason": verdict.reason}
    forged = dict(runs["cuda"][0], deltas=[runs["cuda"][0]["deltas"][1], *runs["cuda"][0]["deltas"][1:]])
    verdict = dlora.check_member(spec, model, "cpu", forged)
    found["cpu_checks_forged_cuda"] = {"match": verdict.match, "reason": verdict.reason}
    return found


def run(save: Any = lambda report: None, cross: bool = True) -> dict[str, Any]:
    """Each section as it ends goes to `save`: a later one that hangs (NCCL
    on a shared GPU, last on purpose) loses nothing before it."""
    from agent.device import discover
    from agent.tiny_models import tiny_causal_lm

    report: dict[str, Any] = {"devices": [d.__dict__ for d in discover()]}
    if cross:
        with tempfile.TemporaryDirectory() as tmp:
            report["cross_device"] = cross_device(tiny_causal_lm(Path(tmp) / "model"))
        save(report)
    for name, device, backend in (
        ("cuda_store", "cuda", "store"),
        ("cuda_gloo", "cuda", "gloo"),
        ("cpu_gloo", "cpu", "gloo"),
        ("cuda_nccl", "cuda", "nccl"),
    ):
        try:
            report[f"bench_{name}"] = dlora_bench.run(device=device, backend=backend)
        except RuntimeError as exc:
            report[f"bench_{name}"] = {"error": str(exc)}
        save(report)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", help="also write the report to this file")
    parser.add_argument(
        "--bench-only", action="store_true", help="only the benchmarks, not the cross-device checks"
    )
    args = parser.parse_args()

    def save(report: dict[str, Any]) -> None:
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2, default=str))

    print(json.dumps(run(save, cross=not args.bench_only), indent=2, default=str))


if __name__ == "__main__":
    main()
