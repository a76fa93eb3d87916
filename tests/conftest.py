import os
from collections.abc import Iterator
from pathlib import Path

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
