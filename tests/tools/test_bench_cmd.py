import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import docker_client


def bench_json(name: str, *options: str) -> Any:
    """`vcoin bench NAME --json OPTIONS...` in a process of its own, parsed."""
    out = subprocess.run([sys.executable, "-m", "tools.cli", "bench", name, "--json", *options],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_bench_runtime_json_reports_a_ratio_from_its_own_figures() -> None:
    result = bench_json("runtime", "--accounts", "300", "--blocks", "2", "--per-block", "150")
    assert result["transfers"] == 300
    assert result["ratio"] == result["transfers_per_s"] / result["verifies_per_s"]
    assert 0 < result["ratio"] < 1.5


def test_unknown_bench_is_a_usage_error() -> None:
    out = subprocess.run([sys.executable, "-m", "tools.cli", "bench", "nope"], capture_output=True, text=True)
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_bench_import_json_reports_a_ratio_from_its_own_figures() -> None:
    result = bench_json("import", "--accounts", "300", "--blocks", "2", "--per-block", "150")
    assert result["transfers"] == 300 and result["blocks"] == 2
    assert result["ratio"] == result["transfers_per_s"] / result["verifies_per_s"]
    assert 0 < result["ratio"] < 1.5


@pytest.mark.slow
def test_bench_network_json_measures_sync_finality_and_inclusion() -> None:
    result = bench_json("network", "--sync-blocks", "300", "--finality-seconds", "3")
    assert result["sync_blocks"] == 300 and result["sync_blocks_per_s"] > 0
    assert result["ratio"] == result["sync_blocks_per_s"] / result["local_import_blocks_per_s"]
    assert 0 <= result["finality_lag_slots_median"] <= result["finality_lag_slots_max"] < 10
    assert 0 < result["inclusion_seconds_median"] < 30


def test_bench_agent_json_compares_the_executor_with_a_bare_call() -> None:
    pytest.importorskip("transformers")
    result = bench_json("agent", "--min-seconds", "0.05")
    assert result["ratio"] == result["executor_seconds"] / result["bare_seconds"]
    # A sanity range only: with other processes on the cores the two timings drift apart.
    assert result["texts"] >= 16 and 0.1 < result["ratio"] < 10


def test_bench_agent_docker_reports_warm_ratio_and_cold_start_apart(agent_image: str) -> None:
    pytest.importorskip("transformers")
    result = bench_json("agent", "--executor", "docker", "--min-seconds", "0.05")
    assert {"name", "texts", "bare_seconds", "executor_seconds", "ratio", "overhead", "repeats",
            "goal_overhead", "executor", "cold_start_seconds", "image", "image_bytes"} <= set(result)  # fmt: skip
    assert result["executor"] == "docker" and result["image"] == "vcoin/agent:latest"
    assert isinstance(result["image_bytes"], int) and result["image_bytes"] > 0
    assert result["ratio"] == result["executor_seconds"] / result["bare_seconds"] > 0
    assert isinstance(result["cold_start_seconds"], float) and result["cold_start_seconds"] > 0
    # The first job pays the container's start and the model's load; a warm one does not.
    assert result["cold_start_seconds"] > result["executor_seconds"]


def test_bench_agent_docker_without_a_daemon_is_a_one_line_error(tmp_path: Path) -> None:
    pytest.importorskip("docker")
    from agent.models import PACKAGED

    if PACKAGED[0].path() is None:
        pytest.skip("the packaged embedding model is not installed")
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock"}
    out = subprocess.run([sys.executable, "-m", "tools.cli", "bench", "agent", "--executor", "docker"],
                         capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("error: agent: no Docker daemon answers")


def test_bench_agent_docker_without_the_image_says_how_to_build_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.models import PACKAGED

    if PACKAGED[0].path() is None:
        pytest.skip("the packaged embedding model is not installed")
    docker_client().close()
    import agent.docker_executor
    from tools.bench import agent_bench

    monkeypatch.setattr(agent.docker_executor, "CPU_IMAGE", "vcoin/agent:no-such-tag")
    with pytest.raises(agent_bench.AgentBenchError, match="build it: vcoin provider image build"):
        agent_bench.run(executor="docker")


def test_bench_cheat_catches_cheaters_and_spares_honest_providers() -> None:
    """A small run of the adversarial simulation over the real runtime."""
    result = bench_json("cheat", "--jobs", "1500", "--providers", "4")
    strategies = result["strategies"]
    assert set(strategies) == {"honest", "lazy", "copycat", "model_swap", "intermittent_0.05",
                               "intermittent_0.2", "intermittent_0.5", "no_show"}  # fmt: skip
    assert result["honest_slashed"] == 0 and strategies["honest"]["slashed_share"] == 0
    for always in ("lazy", "copycat", "model_swap"):
        assert strategies[always]["slashed_share"] == 1.0 and strategies[always]["jobs_to_slash_p99"] <= 30
    assert strategies["no_show"]["rewards_paid"] == 0
    assert result["jobs"] == 1500 and 0 < result["overhead"] < 1


def test_bench_verify_reports_check_cost_per_kind() -> None:
    pytest.importorskip("transformers")
    result = bench_json("verify")
    assert set(result["kinds"]) == {"inference", "embed", "lora"}
    assert all(kind["self_check_matches"] for kind in result["kinds"].values())
    assert result["ratio"] == result["kinds"]["inference"]["verify_over_execute"] > 0
    swaps = result["fingerprint"]  # same tokens from other logits: only the fingerprint can tell
    assert swaps["honest_rejected"] == 0 and swaps["swaps_with_identical_tokens"] > swaps["prompts"] // 2
    assert swaps["caught_by_fingerprint"] == swaps["swaps_with_identical_tokens"]


def test_bench_fuzz_feeds_every_decoder_and_finds_no_crash_or_hang() -> None:
    result = bench_json("fuzz", "--cases", "3000", "--seed", "7")
    targets = result["targets"]
    assert {"block gossip", "extrinsic gossip", "vote gossip", "rpc body", "referenced input"} <= set(targets)
    assert all(t["cases"] == 3000 for t in targets.values())
    failures = {name: t["examples"] for name, t in targets.items() if t["crashes"] or t["hangs"]}
    assert not failures and result["ratio"] == 0.0, failures
