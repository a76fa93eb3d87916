from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nodeproc import NodeProcess, fast_dev_spec


@pytest.fixture
def dev_node(tmp_path: Path) -> Iterator[NodeProcess]:
    node = NodeProcess(tmp_path / "node", fast_dev_spec(tmp_path / "spec.json")).start()
    try:
        yield node
    finally:
        node.stop()
