import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.nodeproc import NodeProcess, fast_dev_spec

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.register_profile(
    "thorough", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=1000
)
settings.load_profile(os.environ.get("VCOIN_HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def dev_node(tmp_path: Path) -> Iterator[NodeProcess]:
    """A real dev node (1 s slots) on 127.0.0.1, stopped after the test."""
    node = NodeProcess(tmp_path / "node", fast_dev_spec(tmp_path / "spec.json")).start()
    try:
        yield node
    finally:
        node.stop()


def docker_client() -> Any:
    """A client of a Docker daemon that answers; the test skips without one,
    unless VCOIN_DOCKER_REQUIRED=1 (CI), where a missing daemon is a failure."""
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as exc:
        if os.environ.get("VCOIN_DOCKER_REQUIRED") == "1":
            pytest.fail(f"VCOIN_DOCKER_REQUIRED=1 but no Docker daemon answers: {exc}")
        pytest.skip(f"no Docker daemon answers ({type(exc).__name__})")
    return client


@pytest.fixture(scope="session")
def agent_image() -> str:
    """The CPU agent image, built once per session (a no-op when its inputs
    are unchanged), exactly as `vcoin provider image build` builds it."""
    from tools.provider_image import ImageBuildError, build

    client = docker_client()
    try:
        return build(client, progress=lambda line: print(line, flush=True)).tag
    except ImageBuildError as exc:
        if os.environ.get("VCOIN_DOCKER_REQUIRED") == "1":
            pytest.fail(f"the agent image could not be built: {exc}")
        pytest.skip(f"the agent image could not be built: {exc}")
    finally:
        client.close()


# `scripts/test.sh` runs the suite as two processes, one per core: the heavy
# tests one at a time in one (`-m heavy`), every other test beside them.
# Heavy: whatever runs models against a deadline (worker nodes revealing
# within a window, training rounds with heartbeats): two of those side by
# side starve each other on two cores, which no single one does beside other
# load. The Docker tests share the daemon (one restarts it; others count its
# containers) and go with them, as does the browser.
_HEAVY_MODULES = (
    "tests/agent/test_docker_executor.py",
    "tests/agent/test_executors.py",
    "tests/agent/test_threads.py",
    "tests/agent/test_diloco.py",
    "tests/agent/test_dlora_member.py",
    "tests/browser/",
    "tests/node/test_api_failover.py",
    "tests/node/test_first_inference.py",
    "tests/node/test_group_job_nodes.py",
    "tests/node/test_market.py",
    "tests/node/test_market_docker.py",
    "tests/node/test_market_observability.py",
    "tests/node/test_openai_api.py",
    "tests/node/test_verification_net.py",
    "tests/offchain/test_group_job.py",
    "tests/tools/test_bench_cmd.py",
    "tests/tools/test_bench_dlora.py",
    "tests/tools/test_session_cmd.py",
)


def pytest_itemcollected(item: pytest.Item) -> None:
    if item.nodeid.startswith(_HEAVY_MODULES):
        item.add_marker(pytest.mark.heavy)
