"""The local executor runs real jobs in its sandboxed runner process; the
Docker executor's container request is checked without a daemon."""

import time
from pathlib import Path

import pytest

from agent.canonical import decode
from agent.device import discover
from agent.docker_spec import DockerLimits, container_request, host_memory
from agent.executor import ExecutorError, LocalExecutor
from agent.executors import make_executor
from agent.job import JobSpec, Result
from agent.kinds import embed
from agent.tiny_models import tiny_encoder

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def enc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("enc"))


def test_local_executor_matches_a_direct_run_and_keeps_the_model_loaded(enc: Path, tmp_path: Path) -> None:
    spec = JobSpec("embed", ["hello world"])
    executor = LocalExecutor(device="cpu", log=tmp_path / "runner.log")
    try:
        first = executor.run(spec, enc, timeout=120)
        pid = executor.proc.pid if executor.proc else None
        second = executor.run(spec, enc, timeout=120)
        assert executor.proc is not None and executor.proc.pid == pid  # one long-lived sandbox
    finally:
        executor.close()
    direct = Result.of(embed.run(spec, enc, "cpu"))
    assert first.hash == second.hash == direct.hash
    assert decode(first.encoded) == direct.payload


def test_a_failing_job_reports_its_error_and_a_slow_one_is_killed(enc: Path, tmp_path: Path) -> None:
    executor = LocalExecutor(device="cpu", log=tmp_path / "runner.log")
    try:
        with pytest.raises(ExecutorError, match="failed in the sandbox"):
            executor.run(JobSpec("embed", ["x"]), tmp_path / "no-such-model", timeout=60)
        start = time.monotonic()
        with pytest.raises(ExecutorError, match="limit"):
            executor.run(JobSpec("embed", ["hello"] * 4), enc, timeout=0.01)
        assert time.monotonic() - start < 5 and executor.proc is None  # killed, restarts on demand
        assert executor.run(JobSpec("embed", ["again"]), enc, timeout=120).hash
    finally:
        executor.close()


def test_a_job_over_the_memory_limit_is_killed_and_bad_inputs_are_executor_errors(
    enc: Path, tmp_path: Path
) -> None:
    executor = LocalExecutor(device="cpu", memory_bytes=48 << 20, log=tmp_path / "runner.log")
    try:  # importing torch alone takes more than 48 MiB resident
        with pytest.raises(ExecutorError, match="over the sandbox's 48 MiB"):
            executor.run(JobSpec("embed", ["hello"]), enc, timeout=120)
        assert executor.proc is None
        with pytest.raises(ExecutorError, match="cannot be sent"):
            executor.run(JobSpec("embed", {1: "not a list"}), enc, timeout=120)
    finally:
        executor.close()


def test_docker_request_isolates_the_job(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    request = container_request(
        "img", model, tmp_path / "sock", gpu=True, limits=DockerLimits(memory=2 << 30)
    )
    assert request["network_mode"] == "none" and request["read_only"]
    assert request["volumes"][str(model)] == {"bind": "/model", "mode": "ro"}
    assert request["volumes"][str(tmp_path / "sock")] == {"bind": "/run/vcoin", "mode": "rw"}
    assert request["mem_limit"] == request["memswap_limit"] == min(2 << 30, host_memory())
    assert request["pids_limit"] > 0 and request["cap_drop"] == ["ALL"]
    assert request["security_opt"] == ["no-new-privileges"] and request["labels"]["vcoin.role"] == "agent"
    assert "--listen" in request["command"] and request["user"].split(":")[0] != "0"
    assert "size=" in request["tmpfs"]["/tmp"]
    (gpu,) = request["device_requests"]
    assert gpu["Count"] == -1 and gpu["Capabilities"] == [["gpu"]]
    assert "device_requests" not in container_request(
        "img", model, tmp_path, gpu=False, limits=DockerLimits()
    )
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"x")
    single = container_request("img", gguf, tmp_path / "sock", gpu=False, limits=DockerLimits())
    # the file alone is mounted, not the folder beside it
    assert single["volumes"][str(gguf)] == {"bind": "/model/m.gguf", "mode": "ro"}
    assert single["environment"]["MODEL"] == "/model/m.gguf"


def _daemon_answers() -> bool:
    try:
        import docker

        return bool(docker.from_env().ping())
    except Exception:
        return False


def test_auto_picks_docker_only_when_a_daemon_answers_with_the_agent_image(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="vcoin.agent")
    if _daemon_answers():
        from agent.docker_executor import DockerExecutor

        probe = DockerExecutor(gpu=False)
        has_image = probe.has_image()
        probe.close()
        auto = make_executor("auto", gpu=False)
        assert auto.name == ("docker" if has_image else "local")
        auto.close()
        if has_image:
            make_executor("docker", gpu=False).close()
        else:
            assert "has no vcoin/agent:latest image" in caplog.text  # the log says why it chose local
            with pytest.raises(ValueError, match="vcoin provider image build"):
                make_executor("docker", gpu=False)
    else:
        assert make_executor("auto", gpu=False).name == "local"
        assert "no Docker daemon answers" in caplog.text
        with pytest.raises(ValueError, match="start dockerd"):
            make_executor("docker", gpu=False)
    with pytest.raises(ValueError):
        make_executor("cloud", gpu=False)


def test_discovery_reports_a_device() -> None:
    devices = discover()
    assert devices and devices[0].memory_mb > 0 and devices[0].kind in ("cpu", "cuda")


def test_docker_cpu_limit_never_exceeds_the_machine(tmp_path: Path) -> None:
    """A daemon on a 2-CPU machine refused the default 4-CPU limit, and the
    first job then took the node down."""
    import os

    model = tmp_path / "model"
    model.mkdir()
    request = container_request("img", model, tmp_path / "job", gpu=False, limits=DockerLimits(cpus=512.0))
    assert request["nano_cpus"] == int((os.cpu_count() or 1) * 1e9)
    small = container_request("img", model, tmp_path / "job", gpu=False, limits=DockerLimits(cpus=0.5))
    assert small["nano_cpus"] == int(0.5e9)
    huge = container_request("img", model, tmp_path / "job", gpu=False, limits=DockerLimits(memory=1 << 60))
    assert huge["mem_limit"] == host_memory()  # never more memory than the machine has
    default = container_request("img", model, tmp_path / "job", gpu=False, limits=DockerLimits())
    assert default["mem_limit"] == host_memory() // 2


def test_a_streamed_inference_hands_out_its_text_piece_by_piece_and_the_same_result(tmp_path: Path) -> None:
    """Pieces come before the result, join into its text, and the result is
    the one an unstreamed run gives; a receiver that fails stops getting
    pieces but the runner stays in step for the next job."""
    from agent.tiny_models import tiny_causal_lm

    lm = tiny_causal_lm(tmp_path / "lm")
    spec = JobSpec("inference", "the quick brown fox", {"max_tokens": 8})
    executor = LocalExecutor(device="cpu", log=tmp_path / "runner.log")
    pieces: list[str] = []
    try:
        streamed = executor.run(spec, lm, timeout=120, on_piece=pieces.append)
        plain = executor.run(spec, lm, timeout=120)

        def broken(piece: str) -> None:
            raise ConnectionError("the client went away")

        again = executor.run(spec, lm, timeout=120, on_piece=broken)
        after = executor.run(JobSpec("inference", "another prompt", {"max_tokens": 4}), lm, timeout=120)
    finally:
        executor.close()
    assert streamed.hash == plain.hash == again.hash
    assert "".join(pieces) == decode(plain.encoded)["text"] and pieces
    assert decode(after.encoded)["tokens"]
