"""Prove the GPU path on a machine with a GPU:

    python -m tools.gpu_check --tokenizer DIR [--json OUT]

NVML discovery, then each job kind run on the CPU and on CUDA through the
same sandboxed executor the worker uses, compared with the kind's own rule,
with the measured CPU/GPU differences (so the tolerances are checked against
real hardware noise, not assumed). Then the warm container's runner mode
(`agent.runner --listen`, what runs inside the agent image) on CUDA, job
after job on one process: the same answers as the pipe runner. Models are built from configs with fixed
seeds, with the tokenizer from DIR (the packaged MiniLM model's).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agent import runner_socket
from agent.canonical import decode, digest, encode, from_fixed
from agent.device import discover
from agent.executor import ExecutorError, LocalExecutor, execution_of, request_of
from agent.job import JobSpec
from agent.kinds import KINDS


def build_models(tokenizer_dir: Path, root: Path) -> tuple[Path, Path]:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    torch.manual_seed(11)
    lm_config = LlamaConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id, initializer_range=0.2,
    )  # fmt: skip
    LlamaForCausalLM(lm_config).save_pretrained(root / "lm")
    tokenizer.save_pretrained(root / "lm")
    enc_config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=256, intermediate_size=1024,
                            num_hidden_layers=4, num_attention_heads=4)  # fmt: skip
    BertModel(enc_config).save_pretrained(root / "enc")
    tokenizer.save_pretrained(root / "enc")
    return root / "lm", root / "enc"


def drift(kind: str, cpu: dict[str, Any], gpu: dict[str, Any]) -> dict[str, Any]:
    """How far the GPU result is from the CPU one, in the kind's own terms."""
    if kind == "inference":
        same = next(
            (i for i, (a, b) in enumerate(zip(cpu["tokens"], gpu["tokens"], strict=False)) if a != b), None
        )
        margins = [
            abs(a - b) for a, b in zip(from_fixed(cpu["margins"]), from_fixed(gpu["margins"]), strict=False)
        ]
        return {"first_differing_token": same, "max_margin_drift": max(margins or [0.0])}
    if kind == "embed":
        cosines = [KINDS["embed"]._cosine(from_fixed(a), from_fixed(b))
                   for a, b in zip(cpu["vectors"], gpu["vectors"], strict=True)]  # fmt: skip
        return {"min_cosine": min(cosines)}
    from safetensors.torch import load

    losses = [abs(a - b) for a, b in zip(from_fixed(cpu["loss"]), from_fixed(gpu["loss"]), strict=True)]
    a, b = load(cpu["adapter"]), load(gpu["adapter"])
    weights = max(float((a[k] - b[k]).abs().max()) for k in a)
    return {"max_loss_drift": max(losses), "max_weight_drift": weights}


def run(tokenizer_dir: Path, gpu: str = "cuda") -> dict[str, Any]:
    report: dict[str, Any] = {"devices": [d.__dict__ for d in discover()], "kinds": {}}
    gpu_hashes: dict[str, bytes] = {}
    texts = [f"sentence number {i} about graphics processors and ledgers" for i in range(32)]
    with tempfile.TemporaryDirectory() as tmp:
        lm, enc = build_models(tokenizer_dir, Path(tmp))
        jobs = {
            "inference": (JobSpec("inference", "the validators of the chain", {"max_tokens": 32}), lm),
            "embed": (JobSpec("embed", texts), enc),
            "lora": (
                JobSpec("lora", texts[:8], {"rank": 8, "alpha": 16, "steps": 20, "lr_ppm": 1000, "seed": 3}),
                lm,
            ),  # fmt: skip
        }
        executors = {"cpu": LocalExecutor(device="cpu"), "cuda": LocalExecutor(device=gpu)}
        try:
            for kind, (spec, path) in jobs.items():
                results, seconds, encoded = {}, {}, {}  # by device
                for device, executor in executors.items():
                    executor.run(spec, path, timeout=600)  # warm: load the model once
                    start = time.perf_counter()
                    done = executor.run(spec, path, timeout=600)
                    seconds[device] = time.perf_counter() - start
                    results[device], encoded[device] = decode(done.encoded), done.encoded
                verdict = KINDS[kind].compare(results["cpu"], results["cuda"])
                report["kinds"][kind] = {
                    "verdict_gpu_vs_cpu": {"match": verdict.match, "reason": verdict.reason},
                    "seconds": seconds,
                    **drift(kind, results["cpu"], results["cuda"]),
                }
                gpu_hashes[kind] = digest(encoded["cuda"])
                if kind == "inference":  # tokens and fingerprint of each, checked by the other's prefill
                    for checker, claimed in (("cpu", "cuda"), ("cuda", "cpu")):
                        check = executors[checker].verify(spec, path, encoded[claimed], timeout=600)
                        report["kinds"][kind][f"{checker}_checks_{claimed}"] = {"match": check.match,
                                                                                 "reason": check.reason}  # fmt: skip
        finally:
            for executor in executors.values():
                executor.close()
        report["listening_runner"] = listening_runner(jobs, gpu_hashes, gpu)
    return report


def listening_runner(
    jobs: dict[str, tuple[JobSpec, Path]], expected: dict[str, bytes], gpu: str
) -> dict[str, Any]:
    """Each job twice through one `agent.runner --listen` process (the first
    pays the model load): the answer must hash as the pipe runner's did."""
    root = Path(__file__).resolve().parents[1]
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "agent.sock"
        env = dict(os.environ, PYTHONPATH=str(root), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent.runner", "--listen", str(path)], env=env, cwd=tmp
        )

        def alive() -> None:
            if proc.poll() is not None:
                raise ExecutorError(f"the listening runner exited with {proc.returncode}")

        try:
            conn = runner_socket.connect(path, time.monotonic() + 120, alive)
            for kind, (spec, model) in jobs.items():
                seconds, hashes = [], []
                for _ in range(2):
                    start = time.perf_counter()
                    answer = runner_socket.exchange(
                        conn, encode(request_of(spec, model, gpu)), time.monotonic() + 600
                    )
                    seconds.append(time.perf_counter() - start)
                    hashes.append(execution_of(decode(answer)).hash)
                found[kind] = {"same_as_pipe_runner": hashes == [expected[kind]] * 2,
                               "first_seconds": seconds[0], "warm_seconds": seconds[1]}  # fmt: skip
            conn.close()
        finally:
            proc.kill()
            proc.wait()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokenizer", required=True, help="a directory with a BERT WordPiece tokenizer")
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args()
    report = run(Path(args.tokenizer))
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
